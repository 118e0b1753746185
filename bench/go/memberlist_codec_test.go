// Per-message CPU of Go memberlist's own packet codec, for bench/memberlist-codec.bench.ts.
//
// This file is compiled inside package memberlist (the bench links it next to the library's
// sources in a temporary GOPATH), so it drives the library's unexported encode, compound,
// LZW and AES-GCM functions exactly as sendMsg/rawSendMsgPacket and ingestPacket/handleCommand
// chain them. The packet is the same one the TypeScript side builds: a ping, four alive
// messages and a suspect in one compound message.
package memberlist

import (
	"bytes"
	"fmt"
	"testing"
)

var benchMeta = []byte("role\x00consul\x00dc\x00dc1\x00port\x008300\x00vsn\x002\x00build\x001.9.0")

func benchParts(b *testing.B) [][]byte {
	msgs := []struct {
		t messageType
		v interface{}
	}{
		{pingMsg, &ping{SeqNo: 4242, Node: "n7.dc1", SourceAddr: []byte{10, 0, 0, 1}, SourcePort: 7946, SourceNode: "n0.dc1"}},
	}
	for i := 1; i <= 4; i++ {
		msgs = append(msgs, struct {
			t messageType
			v interface{}
		}{aliveMsg, &alive{Incarnation: 3, Node: fmt.Sprintf("n%d.dc1", i), Addr: []byte{10, 0, 0, byte(i)}, Port: 7946, Meta: benchMeta, Vsn: []uint8{1, 5, 2, 2, 5, 4}}})
	}
	msgs = append(msgs, struct {
		t messageType
		v interface{}
	}{suspectMsg, &suspect{Incarnation: 2, Node: "n9.dc1", From: "n0.dc1"}})
	parts := make([][]byte, 0, len(msgs))
	for _, m := range msgs {
		buf, err := encode(m.t, m.v)
		if err != nil {
			b.Fatal(err)
		}
		parts = append(parts, buf.Bytes())
	}
	return parts
}

var benchKey = []byte("0123456789abcdef0123456789abcdef")

func encodePacket(b *testing.B, compress, encrypt bool) []byte {
	parts := benchParts(b)
	msg := makeCompoundMessage(parts).Bytes()
	if compress {
		c, err := compressPayload(msg)
		if err != nil {
			b.Fatal(err)
		}
		if c.Len() < len(msg) {
			msg = c.Bytes()
		}
	}
	if encrypt {
		var buf bytes.Buffer
		if err := encryptPayload(1, benchKey, msg, nil, &buf); err != nil {
			b.Fatal(err)
		}
		msg = buf.Bytes()
	}
	return msg
}

// decodeMessages is handleCommand's walk: compress and compound wrappers, then each struct.
func decodeMessages(b *testing.B, buf []byte) int {
	switch messageType(buf[0]) {
	case compressMsg:
		inner, err := decompressPayload(buf[1:])
		if err != nil {
			b.Fatal(err)
		}
		return decodeMessages(b, inner)
	case compoundMsg:
		_, parts, err := decodeCompoundMessage(buf[1:])
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, p := range parts {
			n += decodeMessages(b, p)
		}
		return n
	case pingMsg:
		var p ping
		if err := decode(buf[1:], &p); err != nil {
			b.Fatal(err)
		}
	case aliveMsg:
		var a alive
		if err := decode(buf[1:], &a); err != nil {
			b.Fatal(err)
		}
	case suspectMsg:
		var s suspect
		if err := decode(buf[1:], &s); err != nil {
			b.Fatal(err)
		}
	default:
		b.Fatalf("unexpected message type %d", buf[0])
	}
	return 1
}

func decodePacket(b *testing.B, buf []byte, encrypt bool) int {
	if encrypt {
		plain, err := decryptPayload([][]byte{benchKey}, buf, nil)
		if err != nil {
			b.Fatal(err)
		}
		buf = plain
	}
	return decodeMessages(b, buf)
}

func benchRoundTrip(b *testing.B, compress, encrypt bool) {
	size := len(encodePacket(b, compress, encrypt))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkt := encodePacket(b, compress, encrypt)
		if decodePacket(b, pkt, encrypt) != 6 {
			b.Fatal("expected 6 messages")
		}
	}
	b.ReportMetric(float64(size), "packet-bytes")
}

func BenchmarkWanfedPlain(b *testing.B)           { benchRoundTrip(b, false, false) }
func BenchmarkWanfedCompress(b *testing.B)        { benchRoundTrip(b, true, false) }
func BenchmarkWanfedEncrypt(b *testing.B)         { benchRoundTrip(b, false, true) }
func BenchmarkWanfedCompressEncrypt(b *testing.B) { benchRoundTrip(b, true, true) }
