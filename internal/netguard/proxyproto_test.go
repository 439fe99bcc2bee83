package netguard

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"net/netip"
	"strings"
	"testing"
)

func withBody(verCmd, family byte, body []byte) []byte {
	b := append(bytes.Clone(proxySignature), verCmd, family)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

// withCRC appends a CRC32c TLV to a TCP4 PROXY header and fills it in.
func withCRC(t *testing.T, corrupt bool) []byte {
	t.Helper()
	h := proxyV2(netip.MustParseAddrPort("192.0.2.1:1000"), netip.MustParseAddrPort("192.0.2.2:443"))
	h = append(h, proxyTLVCRC32, 0, 4, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(h[14:16], uint16(len(h)-proxyFixedLen))
	sum := crc32.Checksum(h, crc32.MakeTable(crc32.Castagnoli))
	if corrupt {
		sum++
	}
	binary.BigEndian.PutUint32(h[len(h)-4:], sum)
	return h
}

func TestReadProxyHeader(t *testing.T) {
	addrs4 := make([]byte, 12)
	tests := []struct {
		name    string
		input   []byte
		wantErr string
		src     string
	}{
		{"TCP4", proxyV2(netip.MustParseAddrPort("192.0.2.1:50000"), netip.MustParseAddrPort("198.51.100.2:443")), "", "192.0.2.1:50000"},
		{"TCP6", proxyV2(netip.MustParseAddrPort("[2001:db8::1]:50000"), netip.MustParseAddrPort("[2001:db8::2]:443")), "", "[2001:db8::1]:50000"},
		{"TCP4 with unknown TLV", withBody(0x21, proxyTCP4, append(bytes.Clone(addrs4), 0xE0, 0, 2, 'h', 'i')), "", "0.0.0.0:0"},
		{"valid CRC32c", withCRC(t, false), "", "192.0.2.1:1000"},
		{"wrong CRC32c", withCRC(t, true), "CRC32c", ""},
		{"version 1 text", []byte("PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\n"), "version 1", ""},
		{"TLS ClientHello", append([]byte{0x16, 0x03, 0x01, 0x00, 0xc8}, make([]byte, 20)...), "signature", ""},
		{"version 3", withBody(0x31, proxyTCP4, addrs4), "version 3", ""},
		{"unknown command", withBody(0x22, proxyTCP4, addrs4), "command", ""},
		{"UDP over IPv4", withBody(0x21, 0x12, addrs4), "not TCP", ""},
		{"unix socket", withBody(0x21, 0x31, make([]byte, 216)), "not TCP", ""},
		{"short address block", withBody(0x21, proxyTCP6, addrs4), "too short", ""},
		{"truncated TLV", withBody(0x21, proxyTCP4, append(bytes.Clone(addrs4), 0xE0, 0)), "truncated TLV", ""},
		{"TLV overrun", withBody(0x21, proxyTCP4, append(bytes.Clone(addrs4), 0xE0, 0, 9, 1)), "overruns", ""},
		{"length over cap", withBody(0x21, proxyTCP4, make([]byte, maxProxyHeaderBody+1)), "exceeds", ""},
		{"truncated body", withBody(0x21, proxyTCP4, addrs4)[:20], "reading", ""},
		{"truncated fixed part", proxySignature[:10], "reading", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bytes.NewReader(append(bytes.Clone(tt.input), "after"...))
			h, err := readProxyHeader(r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readProxyHeader: %v", err)
			}
			if h.src.String() != tt.src {
				t.Errorf("source = %s, want %s", h.src, tt.src)
			}
			if rest := r.Len(); rest != len("after") {
				t.Errorf("reader has %d bytes left, want %d: the parser read past the header", rest, len("after"))
			}
		})
	}
}

func TestReadProxyHeaderLocal(t *testing.T) {
	h, err := readProxyHeader(bytes.NewReader(withBody(0x20, proxyTCP4, make([]byte, 12))))
	if err != nil || !h.local {
		t.Errorf("LOCAL header: %+v, %v; want local", h, err)
	}
}

// FuzzReadProxyHeader checks that the parser never panics, never reads past
// the length it declares, and that an accepted PROXY header for TCP
// without TLVs encodes back to its input.
func FuzzReadProxyHeader(f *testing.F) {
	f.Add(proxyV2(netip.MustParseAddrPort("192.0.2.1:50000"), netip.MustParseAddrPort("198.51.100.2:443")))
	f.Add(proxyV2(netip.MustParseAddrPort("[2001:db8::1]:1"), netip.MustParseAddrPort("[2001:db8::2]:2")))
	f.Add(withBody(0x20, 0, nil))
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		h, err := readProxyHeader(r)
		if err != nil {
			return
		}
		used := len(data) - r.Len()
		declared := proxyFixedLen + int(binary.BigEndian.Uint16(data[14:16]))
		if used != declared {
			t.Fatalf("read %d bytes, header declares %d", used, declared)
		}
		if h.local || (used != proxyFixedLen+12 && used != proxyFixedLen+36) {
			return
		}
		src, dst := h.src, h.dst
		if used == proxyFixedLen+36 {
			// IPv4-mapped addresses are unmapped, so re-encode as IPv6.
			src = netip.AddrPortFrom(netip.AddrFrom16(src.Addr().As16()), src.Port())
			dst = netip.AddrPortFrom(netip.AddrFrom16(dst.Addr().As16()), dst.Port())
		}
		if again := proxyV2(src, dst); !bytes.Equal(again[13:], data[13:used]) {
			t.Fatalf("re-encoded %x, input %x", again, data[:used])
		}
	})
}
