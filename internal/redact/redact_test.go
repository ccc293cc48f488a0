package redact

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct {
		name     string
		literals []string
		patterns []string
		in       string
		want     string
	}{
		{name: "no secrets", in: "hello world", want: "hello world"},
		{name: "empty text", literals: []string{"secret"}, in: "", want: ""},
		{name: "one literal", literals: []string{"hunter2"}, in: "password is hunter2.", want: "password is ***."},
		{name: "every occurrence", literals: []string{"abc"}, in: "abc abc xabcx", want: "*** *** x***x"},
		{name: "short literals ignored", literals: []string{"", "a", "no"}, in: "a no yes", want: "a no yes"},
		{name: "three bytes hidden", literals: []string{"yes"}, in: "a no yes", want: "a no ***"},
		{
			name:     "longer literal containing a shorter one",
			literals: []string{"key", "key-123456"},
			in:       "key-123456 and key",
			want:     "*** and ***",
		},
		{
			name:     "overlapping literals fully hidden",
			literals: []string{"abcdef", "defghi"},
			in:       "xabcdefghix",
			want:     "x***x",
		},
		{
			name:     "overlapping occurrences of one literal",
			literals: []string{"aaa"},
			in:       "baaaaab",
			want:     "b***b",
		},
		{
			name:     "adjacent secrets merge",
			literals: []string{"1111", "2222"},
			in:       "11112222",
			want:     "***",
		},
		{
			name:     "escaped form hidden",
			literals: []string{"pa\"ss\nword"},
			in:       `value = "pa\"ss\nword"`,
			want:     `value = "***"`,
		},
		{
			name:     "lines of a multi-line secret hidden",
			literals: []string{"-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\n-----END KEY-----\n"},
			in:       "error: bad key\n  MIIBOgIBAAJBAKj34GkxFhD9\n",
			want:     "error: bad key\n  ***\n",
		},
		{
			name:     "pattern without groups hides the match",
			patterns: []string{`AKIA[0-9A-Z]{16}`},
			in:       "key AKIAABCDEFGHIJKLMNOP used",
			want:     "key *** used",
		},
		{
			name:     "pattern with a group hides the group",
			patterns: []string{`password=(\S+)`},
			in:       "url?password=s3cret&x password=other",
			want:     "url?password=*** password=***",
		},
		{
			name:     "empty matches hide nothing",
			patterns: []string{`x*`},
			in:       "abc",
			want:     "abc",
		},
		{
			name:     "literal and pattern overlapping",
			literals: []string{"token-1234"},
			patterns: []string{`1234-more`},
			in:       "token-1234-more!",
			want:     "***!",
		},
		{
			name:     "utf-8 literal",
			literals: []string{"clé-secrète"},
			in:       "la clé-secrète ici",
			want:     "la *** ici",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res []*regexp.Regexp
			for _, p := range tt.patterns {
				res = append(res, regexp.MustCompile(p))
			}
			r := New(tt.literals, res)
			if got := r.String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNil(t *testing.T) {
	var r *Redactor
	if got := r.String("secret"); got != "secret" {
		t.Errorf("nil String = %q", got)
	}
	r.Add("secret") // must not panic
	if got := New(nil, []*regexp.Regexp{nil}).String("text"); got != "text" {
		t.Errorf("String with nil pattern = %q", got)
	}
}

func TestAdd(t *testing.T) {
	r := New([]string{"first-secret"}, nil)
	r.Add("second-secret", "x")
	got := r.String("first-secret second-secret x")
	if want := "*** *** x"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	r.Add("first-secret") // duplicates are harmless
	if n := len(*r.literals.Load()); n != 2 {
		t.Errorf("%d literals stored, want 2", n)
	}
}

func TestAddConcurrent(t *testing.T) {
	r := New(nil, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				r.Add(fmt.Sprintf("secret-%d-%d", i, j))
				_ = r.String("text with secret-0-0 in it")
			}
		})
	}
	wg.Wait()
	if got := r.String("secret-7-49"); got != Mask {
		t.Errorf("String = %q, want %q", got, Mask)
	}
}

func TestStringDoesNotAllocateWithoutMatch(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates: allocation counts are meaningless under -race")
	}
	r := New([]string{"secret-value"}, []*regexp.Regexp{regexp.MustCompile(`AKIA[0-9A-Z]{16}`)})
	s := strings.Repeat("nothing to see here ", 100)
	if n := testing.AllocsPerRun(10, func() { _ = r.String(s) }); n > 1 {
		t.Errorf("String allocated %v times on text without secrets", n)
	}
}

func BenchmarkString(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	literals := make([]string, 50)
	for i := range literals {
		literals[i] = fmt.Sprintf("secret-%02d-%x", i, rng.Uint64())
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz     \n"
	var sb strings.Builder
	for sb.Len() < 1<<20 {
		if rng.IntN(200) == 0 {
			sb.WriteString(literals[rng.IntN(len(literals))])
			continue
		}
		sb.WriteByte(alphabet[rng.IntN(len(alphabet))])
	}
	text := sb.String()
	r := New(literals, nil)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		_ = r.String(text)
	}
}
