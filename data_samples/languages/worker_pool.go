// A bounded worker pool that hashes files, written for the codellama-lite workbook.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
)

type result struct {
	path string
	sum  string
	err  error
}

func hashFile(path string) (string, error) {
	file, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer file.Close()
	hasher := sha256.New()
	if _, err := io.Copy(hasher, file); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(hasher.Sum(nil)), nil
}

func hashAll(paths []string, workers int) []result {
	jobs := make(chan string)
	results := make(chan result)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for path := range jobs {
				sum, err := hashFile(path)
				results <- result{path: path, sum: sum, err: err}
			}
		}()
	}
	go func() {
		for _, path := range paths {
			jobs <- path
		}
		close(jobs)
	}()
	go func() {
		wg.Wait()
		close(results)
	}()
	var all []result
	for r := range results {
		all = append(all, r)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].path < all[j].path })
	return all
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: worker_pool FILE...")
		os.Exit(2)
	}
	failed := 0
	for _, r := range hashAll(os.Args[1:], 4) {
		if r.err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", r.path, r.err)
			failed++
			continue
		}
		fmt.Printf("%s  %s\n", r.sum, r.path)
	}
	if failed > 0 {
		os.Exit(1)
	}
}
