package callctl

import "github.com/kinline/kinline/appliance/media"

// HoldSession is the part of a media session that honours hold
// (implemented by *media.Session): while a leg's party holds the call
// (its re-INVITE offered sendonly or inactive, answered recvonly or
// inactive), nothing is relayed to it. Without it a held party still
// receives the other party's audio.
type HoldSession interface {
	SetHold(l media.Leg, on bool)
}

// holding reports whether an answer direction leaves the answerer
// nothing to send.
func holding(answerDir string) bool {
	return answerDir == "recvonly" || answerDir == "inactive"
}
