package ident

import (
	"errors"
	"testing"
)

func TestMask(t *testing.T) {
	for _, tc := range []struct {
		kind     Kind
		in, want string
	}{
		{KindResidentID, "420602199001011234", "420602********1234"},
		{KindResidentID, "11010519491231002X", "110105********002X"},
		{KindResidentID, "110105491231002", "110105*****1002"}, // old 15-digit number
		{KindResidentID, "11010549123100", "**************"},   // too short: all hidden
		{KindResidentID, "", ""},
		{KindCreditCode, "91350100M000100Y43", "91************0Y43"},
		{KindCreditCode, "91350100M00010", "91********0010"},
		{KindCreditCode, "91350100M0001", "*************"},
		{"passport", "E12345678", "*****5678"},
		{"passport", "E123456", "*******"},
		{"", "张三丰的证件号码很长", "******号码很长"},
	} {
		if got := Mask(tc.kind, tc.in); got != tc.want {
			t.Errorf("Mask(%q, %q) = %q, want %q", tc.kind, tc.in, got, tc.want)
		}
	}
	if got := MaskResidentID("420602199001011234"); got != "420602********1234" {
		t.Errorf("MaskResidentID = %q", got)
	}
	if got := MaskCreditCode("91350100M000100Y43"); got != "91************0Y43" {
		t.Errorf("MaskCreditCode = %q", got)
	}
}

func TestValidateKind(t *testing.T) {
	if err := Validate(KindResidentID, "11010519491231002X"); err != nil {
		t.Error(err)
	}
	if err := Validate(KindCreditCode, "91350100M000100Y43"); err != nil {
		t.Error(err)
	}
	if err := Validate(KindCreditCode, "11010519491231002X"); err == nil {
		t.Error("resident ID accepted as credit code")
	}
	if err := Validate("passport", "E12345678"); !errors.Is(err, ErrFormat) {
		t.Errorf("unknown kind: %v", err)
	}
	for code, want := range map[string]Kind{"111": KindResidentID, "001": KindCreditCode} {
		if k, ok := KindForHolderCodeType(code); !ok || k != want {
			t.Errorf("KindForHolderCodeType(%q) = %q, %v", code, k, ok)
		}
	}
	if _, ok := KindForHolderCodeType("414"); ok {
		t.Error("KindForHolderCodeType(414) ok")
	}
}
