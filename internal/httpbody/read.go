// Package httpbody reads HTTP message bodies under a size limit.
package httpbody

import "io"

// maxPresize bounds the buffer Read allocates from a declared length
// before any byte arrives, so that a client cannot make a server reserve
// a whole body's limit by sending headers alone.
const maxPresize = 256 << 10

// Read reads r to the end, or to limit+1 bytes, so that the caller
// can tell a body over limit by its length. declared is the length the
// sender announced (0 or less when unknown). The buffer starts at that size
// within maxPresize, so a body of the announced length is read without
// the copies io.ReadAll makes while it grows.
func Read(r io.Reader, declared, limit int64) ([]byte, error) {
	size := int64(512)
	if declared > 0 {
		size = min(declared, limit, maxPresize) + 1 // +1: room to detect EOF without growing
	}
	buf := make([]byte, 0, size)
	lr := io.LimitedReader{R: r, N: limit + 1}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
