package ident_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/ident"
)

func ExampleValidateCreditCode() {
	fmt.Println(ident.ValidateCreditCode("91350100M000100Y43"))
	err := ident.ValidateCreditCode("91350100M000100Y44")
	fmt.Println(err)
	fmt.Println(errors.Is(err, ident.ErrCheck))
	// Output:
	// <nil>
	// unified social credit code: wrong check character at position 18: want 3, got 4
	// true
}

func ExampleNewCreditCode() {
	fmt.Println(ident.NewCreditCode('1', '1', "420602", 26))
	// Output: 114206020000000T8E
}

func ExampleParseResidentID() {
	id, err := ident.ParseResidentID("11010519491231002x")
	fmt.Println(id.Number, id.Division, id.Birth.Format(time.DateOnly), id.Female, err)
	// Output: 11010519491231002X 110105 1949-12-31 true <nil>
}

func ExampleMask() {
	fmt.Println(ident.Mask(ident.KindResidentID, "420602199001011234"))
	fmt.Println(ident.Mask(ident.KindCreditCode, "91350100M000100Y43"))
	// Output:
	// 420602********1234
	// 91************0Y43
}

func ExampleNewLicenceID() {
	id, err := ident.NewLicenceID("11100000000013338W032", "11220000013544541J", "2430599", 1)
	fmt.Println(id, err)
	l, err := ident.ParseLicenceID(id)
	fmt.Println(l.IssuerCode, l.Serial, l.Version, string(l.Check), err)
	// Output:
	// 1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F <nil>
	// 11220000013544541J 2430599 1 F <nil>
}
