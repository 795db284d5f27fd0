//msgp:limit arrays:1024 maps:16

package chat

//go:generate go run github.com/tinylib/msgp@v1.6.5 -tests=false -io=false

// Message types of the chat protocol.
const (
	TypeJoin   uint32 = 1  // request Join, reply Members: the room's members after joining
	TypeLeave  uint32 = 2  // request Leave, empty reply
	TypeSay    uint32 = 3  // one-way Say; the server pushes Said to the room
	TypeWho    uint32 = 4  // request Who, reply Members
	TypeSaid   uint32 = 10 // server push Said
	TypeStatus uint32 = 20 // server-to-client request Status, reply StatusReply
)

// CodeNameTaken is the error code of a Join with a name another session uses.
const CodeNameTaken = 100

// Join asks to enter a room under a name.
type Join struct {
	Room string `msg:"room"`
	Name string `msg:"name"`
}

// Leave asks to leave a room.
type Leave struct {
	Room string `msg:"room"`
}

// Say is a line for a room.
type Say struct {
	Room string `msg:"room"`
	Text string `msg:"text"`
}

// Who asks for a room's members.
type Who struct {
	Room string `msg:"room"`
}

// Members lists a room's members, sorted.
type Members struct {
	Names []string `msg:"names"`
}

// Said is a line pushed to every member of a room, the speaker included.
type Said struct {
	Room string `msg:"room"`
	From string `msg:"from"`
	Text string `msg:"text"`
}

// Status is the server asking a client for its status line.
type Status struct{}

// StatusReply is a client's status line.
type StatusReply struct {
	Text string `msg:"text"`
}
