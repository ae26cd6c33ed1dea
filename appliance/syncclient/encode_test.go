package syncclient

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/kinline/kinline/shared/wire"
)

// encodeChunk must produce exactly what encoding/json does, so that central
// decodes it as any other chunk.
func TestEncodeChunkIsJSON(t *testing.T) {
	ref := wire.RecordingRef{ID: "c-1", SHA256: "ab", Bytes: 9, Format: "wav/pcmu-stereo"}
	for _, ch := range []wire.RecordingChunk{
		{V: 1, ApplianceID: "blk-a", CallID: "c-1", Ref: ref, Attempt: 7, Query: true},
		{V: 1, ApplianceID: "blk-a", CallID: "c-1", Ref: ref, Attempt: 8, Offset: 3, ChunkSHA256: "cd", Data: []byte("\\x00\"<>&\u2028 audio")},
		{V: 1, ApplianceID: "blk-a", CallID: "c-1", Ref: ref, Offset: 1, Data: bytes.Repeat([]byte{0xff, 0, 0x7f}, 1000)},
	} {
		want, err := json.Marshal(&ch)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeChunk(&ch)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("encodeChunk:\n%s\nencoding/json:\n%s", got, want)
		}
		if cap(got) != len(got) && len(ch.Data) > 0 {
			t.Fatalf("payload of %d bytes in a buffer of %d", len(got), cap(got))
		}
	}
}
