package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.HashFunc = Hash

// hashDomain starts every hashed encoding, so that these hashes cannot be
// confused with hashes of anything else, and versions the encoding.
const hashDomain = "sluice audit entry v1\n"

// Hash returns the hex SHA-256 of an entry's canonical encoding; the stored
// Hash field itself is not part of it. It is the store.HashFunc of the audit
// log. The encoding is, in this order:
//
//	"sluice audit entry v1\n"
//	Seq                          8 bytes, big-endian two's complement
//	At as Unix microseconds      8 bytes, big-endian two's complement
//	Actor, Action, Subject,
//	canonical Details, PrevHash  each as an 8-byte big-endian length, then the bytes
//
// Fixed-size integers and length-prefixed strings make the encoding
// unambiguous: no two different entries encode the same. At counts whole
// microseconds (the precision both stores keep) and does not depend on the
// time zone.
//
// Details, a JSON object, is hashed in canonical form: compact, object keys
// sorted, strings re-escaped the one way encoding/json writes them, numbers
// as written. So a store may keep it as text or as a JSON column that
// reorders keys or whitespace (PostgreSQL jsonb) and the hash still holds;
// only a number's spelling must survive (1.0 stays 1.0). Details that are
// not valid UTF-8 JSON are hashed as they are; an empty Details is an empty
// field.
func Hash(e store.AuditEntry) string {
	h := sha256.New()
	h.Write([]byte(hashDomain))
	var n [8]byte
	writeInt := func(v int64) {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	writeBytes := func(b []byte) {
		writeInt(int64(len(b)))
		h.Write(b)
	}
	writeInt(e.Seq)
	writeInt(e.At.UnixMicro())
	writeBytes([]byte(e.Actor))
	writeBytes([]byte(e.Action))
	writeBytes([]byte(e.Subject))
	writeBytes(canonicalJSON(e.Details))
	writeBytes([]byte(e.PrevHash))
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalJSON returns the canonical form of a JSON document, or b itself
// when it is not valid UTF-8 JSON. A canonical form is always valid JSON, so
// it never equals invalid input kept as it is.
func canonicalJSON(b []byte) []byte {
	if len(b) == 0 || !utf8.Valid(b) || !json.Valid(b) {
		return b
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return b
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return b
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n"))
}
