package main

import (
	"fmt"
	"strings"
)

// diffContext is the unchanged lines a hunk shows around a change.
const diffContext = 3

// maxDiffCells bounds the table the line diff fills; past it, the changed
// middle of the texts is shown as removed and added whole.
const maxDiffCells = 4 << 20

// diffLine is one line of an edit script: ' ' kept, '-' removed, '+' added.
type diffLine struct {
	op   byte
	text string
}

// unifiedDiff is the unified diff of two texts, with headers naming them
// ("--- fleet@3", "+++ fleet@4"); "" when they are equal.
func unifiedDiff(fromName, toName, from, to string) string {
	if from == to {
		return ""
	}
	script := diffLines(splitLines(from), splitLines(to))
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", fromName, toName)
	// Walk the script, cutting it into hunks: runs of changes with up to
	// diffContext kept lines on each side, two runs closer than twice that
	// in one hunk.
	i := 0
	aLine, bLine := 1, 1 // line numbers at script[i]
	for i < len(script) {
		if script[i].op == ' ' {
			i, aLine, bLine = i+1, aLine+1, bLine+1
			continue
		}
		start := max(0, i-diffContext)
		for k := start; k < i; k++ { // back up over the leading context
			aLine, bLine = aLine-1, bLine-1
		}
		end := i
		for end < len(script) {
			if script[end].op != ' ' {
				end++
				continue
			}
			run := end
			for run < len(script) && script[run].op == ' ' {
				run++
			}
			if run == len(script) || run-end > 2*diffContext {
				end = min(end+diffContext, run)
				break
			}
			end = run
		}
		var aCount, bCount int
		for _, l := range script[start:end] {
			if l.op != '+' {
				aCount++
			}
			if l.op != '-' {
				bCount++
			}
		}
		fmt.Fprintf(&b, "@@ -%s +%s @@\n", hunkRange(aLine, aCount), hunkRange(bLine, bCount))
		for _, l := range script[start:end] {
			b.WriteByte(l.op)
			b.WriteString(l.text)
			b.WriteByte('\n')
		}
		aLine += aCount
		bLine += bCount
		i = end
	}
	return b.String()
}

// hunkRange is a hunk's "start,count", with an empty range's start the
// line before it, as diff -u writes it.
func hunkRange(start, count int) string {
	if count == 0 {
		start--
	}
	if count == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, count)
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// diffLines is an edit script from a to b with the fewest changed lines
// (a longest common subsequence), for texts of up to maxDiffCells
// line pairs once their common head and tail are set aside.
func diffLines(a, b []string) []diffLine {
	var head, tail []diffLine
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		head = append(head, diffLine{' ', a[0]})
		a, b = a[1:], b[1:]
	}
	for len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
		tail = append([]diffLine{{' ', a[len(a)-1]}}, tail...)
		a, b = a[:len(a)-1], b[:len(b)-1]
	}
	out := head
	if len(a)*len(b) > maxDiffCells {
		for _, l := range a {
			out = append(out, diffLine{'-', l})
		}
		for _, l := range b {
			out = append(out, diffLine{'+', l})
		}
		return append(out, tail...)
	}
	// lcs[i][j] is the longest common subsequence of a[i:] and b[j:].
	w := len(b) + 1
	lcs := make([]int32, (len(a)+1)*w)
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
			} else {
				lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			out = append(out, diffLine{' ', a[i]})
			i, j = i+1, j+1
		case lcs[(i+1)*w+j] >= lcs[i*w+j+1]:
			out = append(out, diffLine{'-', a[i]})
			i++
		default:
			out = append(out, diffLine{'+', b[j]})
			j++
		}
	}
	for ; i < len(a); i++ {
		out = append(out, diffLine{'-', a[i]})
	}
	for ; j < len(b); j++ {
		out = append(out, diffLine{'+', b[j]})
	}
	return append(out, tail...)
}
