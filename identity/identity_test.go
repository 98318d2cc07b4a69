package identity_test

import (
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/identity"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func validMethods() []identity.MethodConfig {
	return []identity.MethodConfig{
		{Name: "kakao", Label: "카카오 인증", LabelEn: "Kakao", PersonClaim: "ci", Issuer: "https://idp.example/kakao", ClientID: "c", ClientSecret: "s", RedirectURL: "https://gw.example/waitroom/auth/kakao/callback", Capacity: 100, Enabled: true},
		{Name: "ipin", Label: "아이핀"},
		{Name: "naver", Label: "네이버 인증", Issuer: "https://idp.example/naver", ClientID: "c", ClientSecret: "s", RedirectURL: "https://gw.example/waitroom/auth/naver/callback", Enabled: true},
	}
}

func TestNew(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		if _, err := identity.New(validMethods(), identity.Options{Secret: testSecret}); err != nil {
			t.Fatal(err)
		}
	})
	for _, tc := range []struct {
		name string
		edit func(ms []identity.MethodConfig, o *identity.Options) []identity.MethodConfig
		want string // in the error
	}{
		{"ShortSecret", func(ms []identity.MethodConfig, o *identity.Options) []identity.MethodConfig {
			o.Secret = testSecret[:31]
			return ms
		}, "secret"},
		{"NegativeTTL", func(ms []identity.MethodConfig, o *identity.Options) []identity.MethodConfig {
			o.StateTTL = -time.Second
			return ms
		}, "state ttl"},
		{"NoMethods", func([]identity.MethodConfig, *identity.Options) []identity.MethodConfig { return nil }, "no methods"},
		{"BadName", func(ms []identity.MethodConfig, _ *identity.Options) []identity.MethodConfig {
			ms[0].Name = "Kakao!"
			return ms
		}, "name"},
		{"DuplicateName", func(ms []identity.MethodConfig, _ *identity.Options) []identity.MethodConfig {
			ms[2].Name = "kakao"
			return ms
		}, "duplicate"},
		{"NoLabel", func(ms []identity.MethodConfig, _ *identity.Options) []identity.MethodConfig {
			ms[1].Label = ""
			return ms
		}, "label"},
		{"NegativeCapacity", func(ms []identity.MethodConfig, _ *identity.Options) []identity.MethodConfig {
			ms[0].Capacity = -1
			return ms
		}, "capacity"},
		{"RelativeIssuer", func(ms []identity.MethodConfig, _ *identity.Options) []identity.MethodConfig {
			ms[0].Issuer = "idp.example/kakao"
			return ms
		}, "issuer"},
		{"NoRedirect", func(ms []identity.MethodConfig, _ *identity.Options) []identity.MethodConfig {
			ms[0].RedirectURL = ""
			return ms
		}, "redirect"},
		{"NoClientSecret", func(ms []identity.MethodConfig, _ *identity.Options) []identity.MethodConfig {
			ms[2].ClientSecret = ""
			return ms
		}, "client id and secret"},
		{"PersonClaimNotIdentifying", func(ms []identity.MethodConfig, _ *identity.Options) []identity.MethodConfig {
			ms[2].PersonClaim = "birthdate"
			return ms
		}, "methods[2]: person claim"},
		{"PersonClaimBadName", func(ms []identity.MethodConfig, _ *identity.Options) []identity.MethodConfig {
			ms[0].PersonClaim = "kakao_account.ci"
			return ms
		}, "methods[0]: person claim"},
		{"DisabledNeedsLabel", func(ms []identity.MethodConfig, _ *identity.Options) []identity.MethodConfig {
			ms[1] = identity.MethodConfig{Name: "ipin"}
			return ms
		}, "label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := identity.Options{Secret: testSecret}
			_, err := identity.New(tc.edit(validMethods(), &o), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
	t.Run("EveryProblem", func(t *testing.T) {
		ms := validMethods()
		ms[0].Issuer, ms[2].Label = "", ""
		_, err := identity.New(ms, identity.Options{})
		for _, want := range []string{"secret", "methods[0]: issuer", "methods[2]: label"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v does not report %q", err, want)
			}
		}
	})
}

func TestVerifier_Methods(t *testing.T) {
	v, err := identity.New(validMethods(), identity.Options{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	got := v.Methods()
	want := validMethods()
	if len(got) != len(want) {
		t.Fatalf("%d methods, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].ClientSecret != "" {
			t.Errorf("%s: client secret exposed", got[i].Name)
		}
		want[i].ClientSecret = ""
		if want[i].LabelEn == "" { // the defaults, filled in
			want[i].LabelEn = want[i].Label
		}
		if want[i].PersonClaim == "" {
			want[i].PersonClaim = identity.DefaultPersonClaim
		}
		if got[i] != want[i] {
			t.Errorf("methods[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	got[0].Label = "changed"
	if v.Methods()[0].Label == "changed" {
		t.Fatal("Methods returns the verifier's own slice")
	}
}
