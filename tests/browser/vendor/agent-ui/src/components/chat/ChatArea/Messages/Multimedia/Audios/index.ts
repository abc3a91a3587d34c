import Audios from './Audios'

export default Audios
