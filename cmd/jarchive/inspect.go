package main

import (
	"context"
	"errors"
)

func runInspect(ctx context.Context, a *app, args []string) error {
	return errors.New("inspect: not implemented yet")
}
