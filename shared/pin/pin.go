// Package pin hashes and verifies the PINs people in prison enter at a
// terminal. Only the hash is stored and published in policies, in the PHC
// string format
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt b64>$<hash b64>
//
// (unpadded standard base64). The parameters are modest (8 MiB, 2 passes, 1
// lane) so an ARM appliance verifies a PIN in about 50 ms without a large
// memory spike, while an offline guess still costs the same.
//
// Central hashes PINs when an admin sets them; the appliance verifies them
// offline against the hashes in its block's policy.
package pin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Parameters used by Hash.
const (
	Memory  = 8 * 1024 // KiB
	Time    = 2
	Threads = 1
	SaltLen = 16
	KeyLen  = 32
)

// Limits Verify accepts in a stored hash, so a crafted hash cannot make a
// verifier allocate or spin without bound.
const (
	maxMemory  = 256 * 1024
	maxTime    = 16
	maxThreads = 8
)

// Errors.
var (
	ErrFormat = errors.New("pin: malformed hash")
)

var b64 = base64.RawStdEncoding

// Hash returns the argon2id hash of pin with a random salt.
func Hash(pin string) (string, error) {
	salt := make([]byte, SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("pin: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pin), salt, Time, Memory, Threads, KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, Memory, Time, Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Params are the parts of an encoded hash.
type Params struct {
	Memory  uint32
	Time    uint32
	Threads uint8
	Salt    []byte
	Key     []byte
}

// Parse decodes an encoded hash, rejecting anything outside the limits.
func Parse(encoded string) (*Params, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, fmt.Errorf("%w: want $argon2id$v=..$m=..,t=..,p=..$salt$hash", ErrFormat)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("%w: version %q", ErrFormat, parts[2])
	}
	var p Params
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return nil, fmt.Errorf("%w: parameters %q", ErrFormat, parts[3])
	}
	for i, want := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(kv[i], want)
		if !ok {
			return nil, fmt.Errorf("%w: parameters %q", ErrFormat, parts[3])
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: parameter %q", ErrFormat, kv[i])
		}
		switch i {
		case 0:
			p.Memory = uint32(n)
		case 1:
			p.Time = uint32(n)
		case 2:
			if n > 255 {
				return nil, fmt.Errorf("%w: parallelism %d", ErrFormat, n)
			}
			p.Threads = uint8(n)
		}
	}
	if p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Threads > maxThreads ||
		p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory {
		return nil, fmt.Errorf("%w: parameters out of range %q", ErrFormat, parts[3])
	}
	var err error
	if p.Salt, err = b64.DecodeString(parts[4]); err != nil || len(p.Salt) < 8 || len(p.Salt) > 64 {
		return nil, fmt.Errorf("%w: salt", ErrFormat)
	}
	if p.Key, err = b64.DecodeString(parts[5]); err != nil || len(p.Key) < 16 || len(p.Key) > 64 {
		return nil, fmt.Errorf("%w: key", ErrFormat)
	}
	return &p, nil
}

// Verify reports whether pin matches the encoded hash. A malformed hash is an
// error (ErrFormat), never a match.
func Verify(encoded, pin string) (bool, error) {
	p, err := Parse(encoded)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(pin), p.Salt, p.Time, p.Memory, p.Threads, uint32(len(p.Key)))
	return subtle.ConstantTimeCompare(key, p.Key) == 1, nil
}
