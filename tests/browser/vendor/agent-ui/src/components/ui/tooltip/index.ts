import Tooltip from './CustomTooltip'

export default Tooltip
