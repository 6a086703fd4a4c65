package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// passwdInput is where passwd reads the password (a variable for tests).
var passwdInput io.Reader = os.Stdin

// minPassword is the shortest password passwd hashes.
const minPassword = 10

// runPasswd prints the bcrypt hash of a password for [[users]]
// password_hash: read from the terminal twice without echo, or as the
// first line of the standard input.
func runPasswd(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "passwd", "[-cost N]")
	cost := fs.Int("cost", bcrypt.DefaultCost, fmt.Sprintf("bcrypt `cost`, %d to %d (each step doubles the time)", bcrypt.MinCost, bcrypt.MaxCost))
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 || *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost {
		fs.Usage()
		return usageError("passwd: no arguments; -cost from %d to %d", bcrypt.MinCost, bcrypt.MaxCost)
	}
	var pw string
	if f, ok := passwdInput.(*os.File); ok && isTerminal(f) {
		first, err := readHidden(a, f, "Password: ")
		if err != nil {
			return err
		}
		again, err := readHidden(a, f, "Again: ")
		if err != nil {
			return err
		}
		if first != again {
			return errors.New("passwd: the passwords differ")
		}
		pw = first
	} else {
		line, err := bufio.NewReader(passwdInput).ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return fmt.Errorf("passwd: read the password from the standard input: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if len([]rune(pw)) < minPassword {
		return fmt.Errorf("passwd: the password is shorter than %d characters", minPassword)
	}
	if len(pw) > 72 {
		return errors.New("passwd: the password is longer than 72 bytes (bcrypt's limit)")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), *cost)
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	fmt.Fprintf(a.stdout, "%s\n", h)
	return nil
}

// readHidden prompts on stderr and reads a line from the terminal f with
// echo off (stty, as every Unix has it).
func readHidden(a *app, f *os.File, prompt string) (string, error) {
	fmt.Fprint(a.stderr, prompt)
	stty := func(arg string) error {
		cmd := exec.Command("stty", arg)
		cmd.Stdin = f
		return cmd.Run()
	}
	if err := stty("-echo"); err != nil {
		return "", fmt.Errorf("passwd: turn off the terminal's echo: %w", err)
	}
	defer func() {
		stty("echo")
		fmt.Fprintln(a.stderr)
	}()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("passwd: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
