package netguard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
)

// PROXY protocol version 2 header, as HAProxy's proxy-protocol.txt
// specifies it (all integers big-endian):
//
//	offset  size  field
//	0       12    signature 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A
//	12      1     version (high 4 bits, must be 2) and command (low 4 bits:
//	              0 LOCAL, 1 PROXY)
//	13      1     address family (high 4 bits: 1 IPv4, 2 IPv6) and transport
//	              (low 4 bits: 1 stream)
//	14      2     length of the rest of the header
//	16      n     source address, destination address, source port,
//	              destination port (12 bytes for IPv4, 36 for IPv6), then
//	              type-length-value (TLV) records
//
// For example, a PROXY header for TCP from 192.0.2.1:50000 to
// 198.51.100.2:443 is the signature followed by
//
//	21 11 00 0C  C0 00 02 01  C6 33 64 02  C3 50  01 BB
//
// This parser accepts only version 2, the LOCAL and PROXY commands, and TCP
// over IPv4 or IPv6 for PROXY. It rejects the text form of version 1, a
// length above maxProxyHeaderBody, TLVs that do not exactly fill the rest
// of the header, and a header whose CRC32c TLV does not match. It reads
// exactly the header's bytes and nothing after them, so the TLS ClientHello
// that follows stays unread.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var proxySignature = []byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

const (
	proxyFixedLen = 16
	// maxProxyHeaderBody caps the bytes after the fixed part: IPv6
	// addresses and ports (36) plus TLVs such as a unique id (at most 128)
	// or an authority (a host name).
	maxProxyHeaderBody = 1024

	proxyCmdLocal = 0x0
	proxyCmdProxy = 0x1
	proxyTCP4     = 0x11
	proxyTCP6     = 0x21
	proxyTLVCRC32 = 0x03
)

// errProxyV1 is returned for the text form of PROXY protocol version 1.
var errProxyV1 = errors.New("PROXY protocol version 1 is not accepted; configure the proxy to send version 2")

// proxyHeader is a parsed PROXY protocol version 2 header.
type proxyHeader struct {
	// local is true for the LOCAL command: the proxy's own connection,
	// such as a health check, with no client address.
	local    bool
	src, dst netip.AddrPort
}

// readProxyHeader reads one PROXY protocol version 2 header from r.
func readProxyHeader(r io.Reader) (proxyHeader, error) {
	fixed := make([]byte, proxyFixedLen)
	if _, err := io.ReadFull(r, fixed); err != nil {
		return proxyHeader{}, fmt.Errorf("reading PROXY protocol header: %w", err)
	}
	if !bytes.Equal(fixed[:12], proxySignature) {
		if bytes.HasPrefix(fixed, []byte("PROXY ")) {
			return proxyHeader{}, errProxyV1
		}
		return proxyHeader{}, errors.New("missing PROXY protocol version 2 signature")
	}
	n := int(binary.BigEndian.Uint16(fixed[14:16]))
	if n > maxProxyHeaderBody {
		return proxyHeader{}, fmt.Errorf("PROXY protocol header length %d exceeds %d", n, maxProxyHeaderBody)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return proxyHeader{}, fmt.Errorf("reading PROXY protocol header: %w", err)
	}
	return parseProxyHeader(fixed, body)
}

// parseProxyHeader parses the fixed 16 bytes and the body that follows.
func parseProxyHeader(fixed, body []byte) (proxyHeader, error) {
	if version := fixed[12] >> 4; version != 2 {
		return proxyHeader{}, fmt.Errorf("PROXY protocol version %d is not supported", version)
	}
	cmd, family := fixed[12]&0x0F, fixed[13]
	var h proxyHeader
	var addrLen int
	switch {
	case cmd == proxyCmdLocal:
		// The address block of a LOCAL header has no meaning and is
		// skipped, as the specification requires.
		h.local = true
		addrLen = addressBlockLen(family, len(body))
	case cmd == proxyCmdProxy && family == proxyTCP4:
		addrLen = 12
	case cmd == proxyCmdProxy && family == proxyTCP6:
		addrLen = 36
	case cmd == proxyCmdProxy:
		return proxyHeader{}, fmt.Errorf("PROXY protocol address family and transport 0x%02x is not TCP over IPv4 or IPv6", family)
	default:
		return proxyHeader{}, fmt.Errorf("PROXY protocol command 0x%x is not LOCAL or PROXY", cmd)
	}
	if len(body) < addrLen {
		return proxyHeader{}, fmt.Errorf("PROXY protocol header of %d bytes is too short for its addresses (%d)", len(body), addrLen)
	}
	if !h.local {
		h.src, h.dst = parseProxyAddresses(body[:addrLen])
	}
	if err := checkTLVs(fixed, body, addrLen); err != nil {
		return proxyHeader{}, err
	}
	return h, nil
}

// addressBlockLen returns the address block length that family implies for
// a LOCAL header, or all of the body for an unspecified family.
func addressBlockLen(family byte, bodyLen int) int {
	switch family {
	case proxyTCP4:
		return 12
	case proxyTCP6:
		return 36
	}
	return bodyLen
}

func parseProxyAddresses(b []byte) (src, dst netip.AddrPort) {
	if len(b) == 12 {
		srcIP := netip.AddrFrom4([4]byte(b[0:4]))
		dstIP := netip.AddrFrom4([4]byte(b[4:8]))
		return netip.AddrPortFrom(srcIP, binary.BigEndian.Uint16(b[8:10])),
			netip.AddrPortFrom(dstIP, binary.BigEndian.Uint16(b[10:12]))
	}
	srcIP := netip.AddrFrom16([16]byte(b[0:16])).Unmap()
	dstIP := netip.AddrFrom16([16]byte(b[16:32])).Unmap()
	return netip.AddrPortFrom(srcIP, binary.BigEndian.Uint16(b[32:34])),
		netip.AddrPortFrom(dstIP, binary.BigEndian.Uint16(b[34:36]))
}

// checkTLVs checks that the TLVs after the address block exactly fill the
// body and verifies a CRC32c TLV if one is present.
func checkTLVs(fixed, body []byte, addrLen int) error {
	rest := body[addrLen:]
	offset := addrLen
	for len(rest) > 0 {
		if len(rest) < 3 {
			return errors.New("PROXY protocol header has a truncated TLV")
		}
		typ, n := rest[0], int(binary.BigEndian.Uint16(rest[1:3]))
		if len(rest) < 3+n {
			return fmt.Errorf("PROXY protocol TLV 0x%02x of length %d overruns the header", typ, n)
		}
		if typ == proxyTLVCRC32 {
			if err := checkCRC32c(fixed, body, offset+3, n); err != nil {
				return err
			}
		}
		rest = rest[3+n:]
		offset += 3 + n
	}
	return nil
}

// checkCRC32c verifies the CRC32c TLV whose 4-byte value starts at
// body[at]: the checksum of the whole header with that value set to zero.
func checkCRC32c(fixed, body []byte, at, n int) error {
	if n != 4 {
		return fmt.Errorf("PROXY protocol CRC32c TLV has length %d, want 4", n)
	}
	want := binary.BigEndian.Uint32(body[at : at+4])
	zeroed := bytes.Clone(body)
	clear(zeroed[at : at+4])
	got := crc32.Update(crc32.Checksum(fixed, castagnoli), castagnoli, zeroed)
	if got != want {
		return fmt.Errorf("PROXY protocol CRC32c is %08x, want %08x", want, got)
	}
	return nil
}
