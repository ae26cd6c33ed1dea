package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Command kinds central may send an appliance (Command.Kind).
const (
	// CmdEndCall ends the call in progress named by Command.CallID
	// (disposition DispEnded).
	CmdEndCall = "end_call"
	// CmdLockdown refuses every new call of the block (policy.ErrLockdown)
	// until CmdLiftLockdown; the state survives restarts.
	CmdLockdown = "lockdown"
	// CmdLiftLockdown ends a lockdown.
	CmdLiftLockdown = "lift_lockdown"
	// CmdRefresh makes the appliance resend what central has not
	// acknowledged and report its status; central republishes its policy.
	CmdRefresh = "refresh"
)

// ValidCommandKind reports whether k is one of the Cmd* kinds.
func ValidCommandKind(k string) bool {
	switch k {
	case CmdEndCall, CmdLockdown, CmdLiftLockdown, CmdRefresh:
		return true
	}
	return false
}

// MaxCommandTTL bounds Command.Expires - Command.Issued. Appliances refuse
// longer-lived commands and remember the ids of those they took for at
// least this long, so a replay is refused as a duplicate or as expired.
const MaxCommandTTL = 24 * time.Hour

// MaxCommandIDLen bounds Command.ID.
const MaxCommandIDLen = 64

// MaxCommandByLen bounds Command.By, in bytes.
const MaxCommandByLen = 256

// EventCommand is the event type of the record an appliance keeps of each
// command it was sent (payload: CommandRecord).
const EventCommand EventType = "command"

// Command is an order from central to one appliance, published (not
// retained) on TopicCommands. It does nothing after Expires, is executed at
// most once per ID, and is answered with a CommandAnswer. Central signs it
// with its policy key (shared/sign.SignCommand).
type Command struct {
	V           int    `json:"v"`
	ID          string `json:"id"`
	ApplianceID string `json:"appliance_id"`
	Kind        string `json:"kind"`
	CallID      string `json:"call_id,omitempty"` // CmdEndCall only
	// By names who sent the command at central, as the console shows
	// them ("user:alice (Alice Smith)", "token:ops"); optional (absent
	// from centrals of capability 20 and older) and at most MaxCommandByLen
	// bytes of valid UTF-8 without control characters. An appliance
	// records it as the ended_by of a call an end_call command ended. It
	// is not covered by the signature (shared/sign's command form v1), so
	// that appliances of capability 20 and older, which ignore it, still
	// verify commands that carry it: it names, it authorizes nothing.
	By      string    `json:"by,omitempty"`
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
	// Signature is central's ed25519 signature over the command's
	// canonical form (shared/sign.SignCommand).
	Signature []byte `json:"sig,omitempty"`
}

// CommandAnswer is an appliance's answer to a Command, on
// TopicCommandAnswers: OK, or the reason it was not carried out in Error.
type CommandAnswer struct {
	V           int       `json:"v"`
	ApplianceID string    `json:"appliance_id"`
	ID          string    `json:"id"`
	OK          bool      `json:"ok"`
	Error       string    `json:"error,omitempty"`
	At          time.Time `json:"at"`
}

// CommandRecord is the payload of an EventCommand: a command the appliance
// received and what became of it.
type CommandRecord struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	CallID  string    `json:"call_id,omitempty"`
	Expires time.Time `json:"expires"`
	OK      bool      `json:"ok"`
	Error   string    `json:"error,omitempty"`
}

// TopicCommands is where central publishes an appliance's commands.
func TopicCommands(appliance string) string { return TopicRoot + "/" + appliance + "/down/commands" }

// TopicCommandAnswers is where an appliance answers its commands.
func TopicCommandAnswers(appliance string) string {
	return TopicRoot + "/" + appliance + "/up/command-answers"
}

// TopicAllCommandAnswers is central's subscription to every appliance's
// command answers.
const TopicAllCommandAnswers = TopicRoot + "/+/up/command-answers"

// ErrBadCommand: a command is well-formed JSON but not a usable command.
var ErrBadCommand = errors.New("wire: bad command")

// Check reports whether c is a usable command: a valid id, kind and
// appliance, a call id for CmdEndCall, a usable By (ValidCommandBy), and
// 0 < Expires-Issued <=
// MaxCommandTTL. It does not look at the clock or the signature.
func (c *Command) Check() error {
	if err := ValidCommandID(c.ID); err != nil {
		return err
	}
	if err := ValidApplianceID(c.ApplianceID); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	if !ValidCommandKind(c.Kind) {
		return fmt.Errorf("%w: unknown kind %q", ErrBadCommand, c.Kind)
	}
	if c.Kind == CmdEndCall {
		if err := ValidCallID(c.CallID); err != nil {
			return fmt.Errorf("%w: %w", ErrBadCommand, err)
		}
	} else if c.CallID != "" {
		return fmt.Errorf("%w: call id on a %s command", ErrBadCommand, c.Kind)
	}
	if err := ValidCommandBy(c.By); err != nil {
		return err
	}
	if ttl := c.Expires.Sub(c.Issued); ttl <= 0 || ttl > MaxCommandTTL {
		return fmt.Errorf("%w: lifetime %s not in (0, %s]", ErrBadCommand, ttl, MaxCommandTTL)
	}
	return nil
}

// ValidCommandBy reports whether by can be a Command.By: empty, or at most
// MaxCommandByLen bytes of valid UTF-8 without control characters or
// bidirectional controls (which would make a record read other than it
// says).
func ValidCommandBy(by string) error {
	if len(by) > MaxCommandByLen || !utf8.ValidString(by) || strings.ContainsFunc(by, badByRune) {
		return fmt.Errorf("%w: by of %d bytes, not valid UTF-8 or with control characters", ErrBadCommand, len(by))
	}
	return nil
}

// badByRune: control characters and the bidirectional marks, embeddings,
// overrides and isolates.
func badByRune(r rune) bool {
	return unicode.IsControl(r) || r == '\u061c' || r == '\u200e' || r == '\u200f' ||
		r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069'
}

// ValidCommandID reports whether id can be a command id: 1 to
// MaxCommandIDLen characters of [A-Za-z0-9._-].
func ValidCommandID(id string) error {
	if len(id) == 0 || len(id) > MaxCommandIDLen {
		return fmt.Errorf("%w: id length %d", ErrBadCommand, len(id))
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w: id %q", ErrBadCommand, id)
		}
	}
	return nil
}

// Validate checks a command's version and that it is usable (Check).
func (c *Command) Validate() error {
	if err := checkVersion(c.V); err != nil {
		return err
	}
	return c.Check()
}

// DecodeCommand unmarshals an untrusted command, checks its version and
// that it names wantAppliance (when not empty). It returns the decoded
// command along with ErrMalformed when only the appliance differs, so the
// caller can still answer it by id. Call Check for the rest.
func DecodeCommand(data []byte, wantAppliance string) (*Command, error) {
	var c Command
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := checkVersion(c.V); err != nil {
		return nil, err
	}
	if wantAppliance != "" && c.ApplianceID != wantAppliance {
		return &c, fmt.Errorf("%w: command for appliance %q on %q's topic", ErrMalformed, c.ApplianceID, wantAppliance)
	}
	return &c, nil
}

// DecodeCommandAnswer unmarshals an untrusted answer and checks its version,
// its id and that it names wantAppliance (when not empty).
func DecodeCommandAnswer(data []byte, wantAppliance string) (*CommandAnswer, error) {
	var a CommandAnswer
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := checkVersion(a.V); err != nil {
		return nil, err
	}
	if wantAppliance != "" && a.ApplianceID != wantAppliance {
		return nil, fmt.Errorf("%w: answer from appliance %q on %q's topic", ErrMalformed, a.ApplianceID, wantAppliance)
	}
	if err := a.check(); err != nil {
		return nil, err
	}
	return &a, nil
}

// MaxCommandAnswerError bounds CommandAnswer.Error.
const MaxCommandAnswerError = 1024

// Validate checks an answer's version, its command id and the size of its
// error.
func (a *CommandAnswer) Validate() error {
	if err := checkVersion(a.V); err != nil {
		return err
	}
	return a.check()
}

func (a *CommandAnswer) check() error {
	if err := ValidCommandID(a.ID); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(a.Error) > MaxCommandAnswerError {
		return fmt.Errorf("%w: answer error of %d bytes", ErrMalformed, len(a.Error))
	}
	return nil
}
