package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestUnifiedDiff: hunks as diff -u writes them (worked out by hand):
// three lines of context, nearby changes in one hunk, distant ones in
// two, empty ranges numbered from the line before.
func TestUnifiedDiff(t *testing.T) {
	lines := func(n int, prefix string) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "%s%d\n", prefix, i)
		}
		return b.String()
	}
	ten := lines(10, "l")
	for _, c := range []struct {
		name     string
		from, to string
		want     string
	}{
		{"equal", "a\n", "a\n", ""},
		{"from empty", "", "a\nb\n", "--- x\n+++ y\n@@ -0,0 +1,2 @@\n+a\n+b\n"},
		{"to empty", "a\n", "", "--- x\n+++ y\n@@ -1 +0,0 @@\n-a\n"},
		{"one changed in the middle", ten, strings.Replace(ten, "l5\n", "L5\n", 1),
			"--- x\n+++ y\n@@ -2,7 +2,7 @@\n l2\n l3\n l4\n-l5\n+L5\n l6\n l7\n l8\n"},
		{"two near: one hunk", ten, strings.Replace(strings.Replace(ten, "l2\n", "L2\n", 1), "l8\n", "L8\n", 1),
			"--- x\n+++ y\n@@ -1,10 +1,10 @@\n l1\n-l2\n+L2\n l3\n l4\n l5\n l6\n l7\n-l8\n+L8\n l9\n l10\n"},
		{"two far: two hunks", lines(20, "l"), strings.Replace(strings.Replace(lines(20, "l"), "l2\n", "L2\n", 1), "l18\n", "", 1),
			"--- x\n+++ y\n@@ -1,5 +1,5 @@\n l1\n-l2\n+L2\n l3\n l4\n l5\n@@ -15,6 +15,5 @@\n l15\n l16\n l17\n-l18\n l19\n l20\n"},
		{"added at the end", "a\nb\n", "a\nb\nc\n", "--- x\n+++ y\n@@ -1,2 +1,3 @@\n a\n b\n+c\n"},
	} {
		if got := unifiedDiff("x", "y", c.from, c.to); got != c.want {
			t.Errorf("%s:\n%s\nwant\n%s", c.name, got, c.want)
		}
	}
}

// TestDiffLinesScript: for random texts the script's kept and removed
// lines are the first text, its kept and added lines the second, and no
// shorter script exists than the one the common subsequence gives.
func TestDiffLinesScript(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	text := func() []string {
		n := rng.IntN(9)
		out := make([]string, n)
		for i := range out {
			out[i] = string(rune('a' + rng.IntN(4)))
		}
		return out
	}
	for range 500 {
		a, b := text(), text()
		var gotA, gotB []string
		changed := 0
		for _, l := range diffLines(a, b) {
			if l.op != '+' {
				gotA = append(gotA, l.text)
			}
			if l.op != '-' {
				gotB = append(gotB, l.text)
			}
			if l.op != ' ' {
				changed++
			}
		}
		if strings.Join(gotA, "") != strings.Join(a, "") || strings.Join(gotB, "") != strings.Join(b, "") {
			t.Fatalf("%q -> %q: script gives %q -> %q", a, b, gotA, gotB)
		}
		if want := len(a) + len(b) - 2*lcsLen(a, b); changed != want {
			t.Fatalf("%q -> %q: %d changed lines, the fewest is %d", a, b, changed, want)
		}
	}
}

// lcsLen is the length of a longest common subsequence, recursively.
func lcsLen(a, b []string) int {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	if a[0] == b[0] {
		return 1 + lcsLen(a[1:], b[1:])
	}
	return max(lcsLen(a[1:], b), lcsLen(a, b[1:]))
}
