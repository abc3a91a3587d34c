import ChatArea from './ChatArea'

export { ChatArea }
