package main

import (
	"context"
	"errors"
)

func runVerify(ctx context.Context, a *app, args []string) error {
	return errors.New("verify: not implemented yet")
}
