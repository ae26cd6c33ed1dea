package callctl

// holding reports whether an answer direction leaves the answerer
// nothing to send.
func holding(answerDir string) bool {
	return answerDir == "recvonly" || answerDir == "inactive"
}
