package gateway

import "net/http"

// closeAfterChunkedBody makes the server close an HTTP/1.x connection
// once it has responded to a request whose body came with the chunked
// transfer coding.
//
// RFC 9112 section 6.1 requires a server to close the connection after
// responding to a request that carries both Content-Length and
// Transfer-Encoding, because the two framings may disagree on where the
// next request starts. Go's HTTP/1.1 server (1.26) frames such a request
// by Transfer-Encoding and deletes the Content-Length field before the
// handler runs, so the handler cannot tell it from a request with
// Transfer-Encoding alone. Every chunked request therefore ends its
// connection. The request itself is still served, which the RFC allows.
// HTTP/2 has no Transfer-Encoding, so its connections stay open.
func closeAfterChunkedBody(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 {
		// net/http closes the connection after a response whose
		// Connection field is "close", and sends that field.
		w.Header().Set("Connection", "close")
	}
}
