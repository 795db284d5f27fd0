// Package codec splits a byte stream into frames and frames payloads for
// writing. It does no I/O and imports nothing outside the standard library:
// the engine hands it the bytes it has buffered and writes what Append
// builds.
//
// Four codecs implement [Codec]:
//
//   - [LengthField]: a length field in a header, with the semantics of
//     Netty's LengthFieldBasedFrameDecoder. [Default] is the project's wire
//     format: a 4-byte big-endian payload length, then the payload.
//   - [Delimiter]: frames end with a delimiter; [NewLine] splits text lines.
//   - [Fixed]: every frame has the same size.
//   - [Raw]: no framing; whatever is buffered is one payload.
//
// A reader decodes in a loop until a frame is incomplete, then discards the
// bytes it used:
//
//	c := codec.Default()
//	for {
//		payload, n, err := c.Decode(buf)
//		if err != nil {
//			return err // the stream is unusable: close the connection
//		}
//		if n == 0 {
//			break // wait for more bytes
//		}
//		handle(payload) // payload aliases buf
//		buf = buf[n:]
//	}
//
// A writer frames payloads into one buffer:
//
//	out, err := c.Append(out[:0], payload)
//
// Decode never copies: the payload it returns is a sub-slice of its input
// (capped at the end of the frame) and stays valid as long as the input's
// bytes are not overwritten. It allocates nothing on a successful call and
// nothing on the strength of a length sent by the peer; building the detail of
// an error is its only allocation. Errors are final for the stream: the
// framing is lost and the connection should be closed.
//
// Concurrency: a codec is immutable once built, so one value may be shared by
// every connection and used from any number of goroutines at once.
package codec
