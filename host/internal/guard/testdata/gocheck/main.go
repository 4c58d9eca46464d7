// Command gocheck is the real-world guest of the guard tests. Built with
// GOOS=wasip1 GOARCH=wasm, the Go toolchain emits a large module that uses
// far more of the instruction set (and far more loops) than the
// hand-assembled fixtures; the tests instrument it and compare its output.
//
// With the argument "spin" it prints "spinning" and then loops for ever, so
// the tests can interrupt a real guest.
package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
)

var sink uint64

func main() {
	if len(os.Args) > 1 && os.Args[1] == "spin" {
		fmt.Println("spinning")
		for i := uint64(0); ; i++ {
			sink += i * i
		}
	}

	fmt.Println("squares:", parallelSquares(1000))
	fmt.Println("words:", topWords("the quick brown fox jumps over the lazy dog the fox", 3))
	fmt.Println("fib:", fib(25))
	fmt.Printf("sha256: %x\n", sha256.Sum256([]byte("p-kernel")))
	fmt.Println("float:", strconv.FormatFloat(math.Sqrt(2)*math.Pi, 'g', 12, 64))
	fmt.Println("recover:", safeIndex([]int{1, 2, 3}, 7))
	fmt.Println("shapes:", totalArea([]shape{square(3), rect{2, 5}}))
	fmt.Println("done")
}

// parallelSquares sums i*i for i < n over goroutines and a channel.
func parallelSquares(n int) int {
	const workers = 4
	results := make(chan int, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			sum := 0
			for i := w; i < n; i += workers {
				sum += i * i
			}
			results <- sum
		}(w)
	}
	wg.Wait()
	close(results)
	total := 0
	for s := range results {
		total += s
	}
	return total
}

// topWords returns the k most frequent words, ties broken alphabetically.
func topWords(text string, k int) string {
	counts := map[string]int{}
	for _, w := range strings.Fields(text) {
		counts[w]++
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool {
		if counts[words[i]] != counts[words[j]] {
			return counts[words[i]] > counts[words[j]]
		}
		return words[i] < words[j]
	})
	var b strings.Builder
	for i, w := range words[:k] {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%d", w, counts[w])
	}
	return b.String()
}

func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

// safeIndex turns an out-of-range panic into an error.
func safeIndex(s []int, i int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("recovered")
		}
	}()
	_ = s[i]
	return nil
}

type shape interface{ area() float64 }

type square float64

func (s square) area() float64 { return float64(s * s) }

type rect struct{ w, h float64 }

func (r rect) area() float64 { return r.w * r.h }

func totalArea(shapes []shape) float64 {
	total := 0.0
	for _, s := range shapes {
		total += s.area()
	}
	return total
}
