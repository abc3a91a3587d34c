import MarkdownRenderer from './MarkdownRenderer'

export default MarkdownRenderer
