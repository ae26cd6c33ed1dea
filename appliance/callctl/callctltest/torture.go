package callctltest

import (
	"strconv"
	"strings"
)

// The SIP torture corpus (appliance/callctl/testdata/torture: RFC 4475
// messages and known parser attacks) and what the appliance may answer to
// each file, shared by callctl's in-process torture test and the hil test
// that sends the corpus to the real kinline-appliance binary.

// Outcomes a torture message may have.
const (
	Drop     = 0 // no response at all
	Class2xx = 2 // any 2xx
	Class4xx = 4 // any 4xx
	Class5xx = 5 // any 5xx
)

// Outcome lists allowed results: Drop, a class (2, 4, 5) or an exact code.
type Outcome []int

// Allows reports whether a response with status code (0: none) is one of
// o's results.
func (o Outcome) Allows(code int) bool {
	for _, w := range o {
		switch {
		case w == Drop && code == 0:
			return true
		case w >= 2 && w <= 6 && code/100 == w:
			return true
		case w >= 100 && code == w:
			return true
		}
	}
	return false
}

// TortureExpect gives, per file, the results the appliance may give. A
// valid RFC 4475 message gets what any such request gets from an unknown
// caller (OPTIONS 200, REGISTER 401, INVITE 407, other methods 405/501);
// an invalid one a 4xx or a drop. No message may create a call or a
// binding; none may be answered with a 2xx unless it is an OPTIONS.
var TortureExpect = map[string]Outcome{
	// RFC 4475 3.1.1: valid messages.
	// Valid, and its To has a tag: a request within a dialog the appliance
	// does not have (RFC 3261 12.2.2). sipvia reads its Vias and tags.
	"rfc4475-wsinv":      {481},
	"rfc4475-intmeth":    {405, 501},
	"rfc4475-esc01":      {407},
	"rfc4475-escnull":    {401},
	"rfc4475-esc02":      {401, 405}, // sipgo does not unescape the method
	"rfc4475-lwsdisp":    {200},
	"rfc4475-longreq":    {407}, // its 407 is over 1,300 bytes: sent since decision 0019
	"rfc4475-dblreq":     {401},
	"rfc4475-semiuri":    {200},
	"rfc4475-transports": {200},
	"rfc4475-mpart01":    {405, 501},
	"rfc4475-unreason":   {Drop}, // a response outside any transaction
	"rfc4475-noreason":   {Drop},
	// RFC 4475 3.1.2: invalid messages.
	"rfc4475-badinv01":   {Drop, Class4xx},
	"rfc4475-clerr":      {Drop, Class4xx},
	"rfc4475-scalar02":   {Drop, Class4xx},
	"rfc4475-scalarlg":   {Drop},
	"rfc4475-quotbal":    {Drop, Class4xx},
	"rfc4475-ltgtruri":   {Drop, Class4xx},
	"rfc4475-lwsruri":    {Drop, Class4xx},
	"rfc4475-lwsstart":   {Drop, Class4xx},
	"rfc4475-trws":       {Drop, Class4xx, 200},
	"rfc4475-escruri":    {Drop, Class4xx},
	"rfc4475-baddate":    {Drop, Class4xx},
	"rfc4475-regbadct":   {Drop, Class4xx},
	"rfc4475-badaspec":   {Drop, Class4xx, 200},
	"rfc4475-baddn":      {Drop, Class4xx},
	"rfc4475-badvers":    {Drop, Class4xx},
	"rfc4475-mismatch01": {Drop, Class4xx, 200},
	"rfc4475-mismatch02": {Drop, Class4xx, 501},
	"rfc4475-bigcode":    {Drop},
	"rfc4475-ncl":        {Drop, Class4xx},
	"rfc4475-badbranch":  {Drop, Class4xx, 200},
	// RFC 4475 3.2-3.4: transaction and application layer.
	"rfc4475-insuf":    {Drop, Class4xx},
	"rfc4475-unkscm":   {Drop, Class4xx, 200},
	"rfc4475-novelsc":  {Drop, Class4xx, 200},
	"rfc4475-unksm2":   {Drop, Class4xx},
	"rfc4475-bext01":   {Drop, Class4xx, 200},
	"rfc4475-invut":    {Drop, Class4xx},
	"rfc4475-regaut01": {Drop, Class4xx},
	"rfc4475-multi01":  {Drop, Class4xx},
	"rfc4475-mcl01":    {Drop, Class4xx, 200},
	"rfc4475-bcast":    {Drop},
	"rfc4475-zeromf":   {Drop, Class4xx, 200},
	"rfc4475-cparam01": {Drop, Class4xx},
	"rfc4475-cparam02": {Drop, Class4xx},
	"rfc4475-regescrt": {Drop, Class4xx},
	"rfc4475-sdp01":    {Drop, Class4xx},
	"rfc4475-inv2543":  {Drop, Class4xx},
	"rfc4475-test":     {Drop},
	// Attacks. Authenticated INVITEs that negotiate audio are refused by
	// the authorizer (403); those without usable audio get 488.
	"attack-baseline":                  {403},
	"attack-double-to-empty-tag":       {400}, // two To headers (decision 0019)
	"attack-bad-via":                   {Drop},
	"attack-slash-uri":                 {Drop, Class4xx},
	"attack-oversized-header":          {Drop, Class4xx},
	"attack-oversized-many-headers":    {Drop, Class4xx},
	"attack-multipart-broken-boundary": {488},
	"attack-multipart-no-boundary":     {488},
	"attack-missing-call-id":           {Drop, 400},
	"attack-cseq-method-mismatch":      {400},
	"attack-cseq-huge":                 {Drop, Class4xx},
	"attack-negative-content-length":   {Drop, Class4xx},
	"attack-content-length-too-big":    {Drop, Class4xx},
	"attack-huge-max-forwards":         {Drop, Class4xx},
	"attack-unicode-headers":           {403},
	"attack-unicode-ruri":              {484},
	"attack-nul-bytes":                 {400},
	"attack-nul-in-request-line":       {Drop, 400},
	"attack-thousand-via":              {Drop, Class4xx},
	"attack-sdp-thousand-m-lines":      {Drop, 403},
	// Issue 11: malformed requests are refused before anything else
	// (400, 483), and answers over 1,300 bytes go out over UDP.
	"attack-double-from-authenticated":       {400},
	"attack-double-call-id-authenticated":    {400},
	"attack-max-forwards-zero-authenticated": {483},
	"attack-options-double-cseq":             {400},
	"attack-long-display-name":               {407},
	"attack-options-70-via":                  {200},
	"attack-sdp-thousand-m-lines-no-audio":   {488},
	"attack-sdp-bad-c":                       {488},
	"attack-sdp-bad-c-fields":                {488},
	"attack-sdp-unspecified-c":               {488},
	"attack-sdp-port-zero":                   {488},
	"attack-sdp-bad-pt":                      {488},
	"attack-sdp-no-common-codec":             {488},
	"attack-sdp-garbage":                     {488},
	"attack-empty-body":                      {488},
	"attack-no-contact-authenticated":        {400},
	"attack-invalid-number-authenticated":    {484},
	"attack-long-number-authenticated":       {484},
	"attack-compact-headers-folded":          {Drop, 403},
	"attack-bye-no-dialog":                   {481},
	"attack-reinvite-unknown-dialog":         {481},
	"attack-response-datagram":               {Drop},
	"attack-empty-datagram":                  {Drop},
	"attack-binary-garbage":                  {Drop},
	"attack-register-unknown-user":           {401},
}

// TortureACK builds the ACK for a non-2xx final response res to the INVITE
// req, so the appliance's INVITE transaction ends at once (RFC 3261
// 17.1.1.3); "" when res lacks what an ACK needs.
func TortureACK(req []byte, res string) string {
	line, _, _ := strings.Cut(string(req), "\r\n")
	f := strings.Fields(line)
	if len(f) < 2 {
		return ""
	}
	var via, from, to, callID, cseq string
	for _, l := range strings.Split(res, "\r\n") {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v":
			if via == "" {
				via = val
			}
		case "from", "f":
			from = val
		case "to", "t":
			to = val
		case "call-id", "i":
			callID = val
		case "cseq":
			cseq = val
		}
	}
	num, _, _ := strings.Cut(strings.TrimSpace(cseq), " ")
	if via == "" || from == "" || to == "" || callID == "" || num == "" {
		return ""
	}
	return "ACK " + f[1] + " SIP/2.0\r\nVia:" + via + "\r\nMax-Forwards: 70\r\nFrom:" + from + "\r\nTo:" + to +
		"\r\nCall-ID:" + callID + "\r\nCSeq: " + num + " ACK\r\nContent-Length: 0\r\n\r\n"
}

// StatusCode is the status code of a SIP response's status line, 0 if msg
// is not a response.
func StatusCode(msg string) int {
	rest, ok := strings.CutPrefix(msg, "SIP/2.0 ")
	if !ok || len(rest) < 3 {
		return 0
	}
	n, err := strconv.Atoi(rest[:3])
	if err != nil {
		return 0
	}
	return n
}
