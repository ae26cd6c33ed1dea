package sdp

import (
	"bytes"
	"strconv"
)

// AnswerDirection is the direction an answerer gives a stream offered
// with direction offer (RFC 3264 section 6.1): sendonly is answered
// recvonly, recvonly sendonly, inactive inactive, anything else
// (sendrecv, or no attribute) sendrecv.
func AnswerDirection(offer string) string {
	switch offer {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	case "inactive":
		return "inactive"
	}
	return "sendrecv"
}

// Redirect returns body, an SDP Kinline built (Build), with its stream's
// direction attribute set to dir and, when that changes it, the o= line's
// version incremented (RFC 3264 section 8: a changed description in the
// same session gets a higher version; an unchanged one keeps its own).
// changed reports whether the body differs from the one given.
func Redirect(body []byte, dir string) (out []byte, changed bool) {
	lines := bytes.SplitAfter(body, []byte("\n"))
	dirAt, oAt := -1, -1
	for i, l := range lines {
		t := bytes.TrimRight(l, "\r\n")
		switch {
		case bytes.HasPrefix(t, []byte("o=")):
			oAt = i
		case bytes.Equal(t, []byte("a=sendrecv")), bytes.Equal(t, []byte("a=sendonly")),
			bytes.Equal(t, []byte("a=recvonly")), bytes.Equal(t, []byte("a=inactive")):
			dirAt = i
		}
	}
	cur := "sendrecv"
	if dirAt >= 0 {
		cur = string(bytes.TrimRight(lines[dirAt], "\r\n")[2:])
	}
	if cur == dir {
		return body, false
	}
	newDir := []byte("a=" + dir + "\r\n")
	if dirAt >= 0 {
		lines[dirAt] = newDir
	} else {
		lines = append(lines, newDir)
	}
	if oAt >= 0 {
		// o=<user> <sess-id> <sess-version> IN IP4 <addr>
		f := bytes.Fields(bytes.TrimRight(lines[oAt], "\r\n"))
		if len(f) == 6 {
			if v, err := strconv.ParseUint(string(f[2]), 10, 64); err == nil {
				f[2] = strconv.AppendUint(nil, v+1, 10)
				lines[oAt] = append(bytes.Join(f, []byte(" ")), '\r', '\n')
			}
		}
	}
	return bytes.Join(lines, nil), true
}
