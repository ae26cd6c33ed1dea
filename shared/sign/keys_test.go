package sign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestKeyFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	pub, priv, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	privPath, pubPath := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	if err := SavePrivateKey(privPath, priv); err != nil {
		t.Fatal(err)
	}
	if err := SavePublicKey(pubPath, pub); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(privPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %#o, want 0600", st.Mode().Perm())
	}
	gotPriv, err := LoadPrivateKey(privPath)
	if err != nil {
		t.Fatal(err)
	}
	gotPub, err := LoadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Equal(gotPriv) || !pub.Equal(gotPub) {
		t.Fatal("keys changed across save and load")
	}
	// The loaded pair signs and verifies together.
	p := samplePolicy()
	if err := SignPolicy(gotPriv, p); err != nil {
		t.Fatal(err)
	}
	if err := VerifyPolicy(gotPub, p); err != nil {
		t.Fatal(err)
	}
	// Overwriting leaves no temporary files behind.
	if err := SavePrivateKey(privPath, priv); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("directory holds %d entries after overwrite, want 2", len(ents))
	}
	if KeyID(pub) == KeyID(fixedKey(1).Public().(ed25519.PublicKey)) || len(KeyID(pub)) != 16 {
		t.Fatalf("KeyID %q", KeyID(pub))
	}
}

func TestLoadPrivateKeyRefusesOpenPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.key")
	if err := SavePrivateKey(path, fixedKey(1)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPrivateKey(path); !errors.Is(err, ErrKeyPermissions) {
		t.Fatalf("0644 key: got %v, want ErrKeyPermissions", err)
	}
	if _, err := LoadPrivateKey(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, ErrKey) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing key: got %v, want ErrKey and fs.ErrNotExist", err)
	}
}

func TestParseRefusesOtherMaterial(t *testing.T) {
	privPEM, _ := MarshalPrivateKeyPEM(fixedKey(1))
	pubPEM, _ := MarshalPublicKeyPEM(fixedKey(1).Public().(ed25519.PublicKey))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})
	ecPubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	ecPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPubDER})
	withHeader := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{1}})

	for name, data := range map[string][]byte{
		"empty":        nil,
		"public":       pubPEM,
		"ecdsa":        ecPEM,
		"two blocks":   append(append([]byte{}, privPEM...), privPEM...),
		"trailing":     append(append([]byte{}, privPEM...), "junk"...),
		"headers":      withHeader,
		"garbage body": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("nope")}),
	} {
		if _, err := ParsePrivateKeyPEM(data); !errors.Is(err, ErrKey) {
			t.Errorf("private %s: got %v, want ErrKey", name, err)
		}
	}
	for name, data := range map[string][]byte{
		"private": privPEM,
		"ecdsa":   ecPubPEM,
		"garbage": []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
	} {
		if _, err := ParsePublicKeyPEM(data); !errors.Is(err, ErrKey) {
			t.Errorf("public %s: got %v, want ErrKey", name, err)
		}
	}
	// Surrounding whitespace is fine.
	if _, err := ParsePrivateKeyPEM(append(append([]byte("\n"), privPEM...), "\n\n"...)); err != nil {
		t.Errorf("private key with whitespace: %v", err)
	}
}

func FuzzParsePrivateKeyPEM(f *testing.F) {
	seed, _ := MarshalPrivateKeyPEM(fixedKey(1))
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		priv, err := ParsePrivateKeyPEM(data)
		if err != nil {
			if !errors.Is(err, ErrKey) {
				t.Fatalf("error %v does not wrap ErrKey", err)
			}
			return
		}
		if len(priv) != ed25519.PrivateKeySize {
			t.Fatalf("accepted key of %d bytes", len(priv))
		}
		out, err := MarshalPrivateKeyPEM(priv)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParsePrivateKeyPEM(out)
		if err != nil || !again.Equal(priv) {
			t.Fatalf("re-marshalled key does not parse back: %v", err)
		}
		// The accepted key is usable: its own public half verifies it.
		msg := []byte("kinline")
		if !ed25519.Verify(priv.Public().(ed25519.PublicKey), msg, ed25519.Sign(priv, msg)) {
			t.Fatal("accepted private key does not match its public key")
		}
	})
}

func FuzzParsePublicKeyPEM(f *testing.F) {
	seed, _ := MarshalPublicKeyPEM(fixedKey(1).Public().(ed25519.PublicKey))
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, err := ParsePublicKeyPEM(data)
		if err != nil {
			if !errors.Is(err, ErrKey) {
				t.Fatalf("error %v does not wrap ErrKey", err)
			}
			return
		}
		if len(pub) != ed25519.PublicKeySize {
			t.Fatalf("accepted key of %d bytes", len(pub))
		}
		out, err := MarshalPublicKeyPEM(pub)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParsePublicKeyPEM(out)
		if err != nil || !bytes.Equal(again, pub) {
			t.Fatalf("re-marshalled key does not parse back: %v", err)
		}
	})
}
