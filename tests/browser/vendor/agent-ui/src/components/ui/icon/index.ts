import Icon from './Icon'

export { type IconType } from './types'

export default Icon
