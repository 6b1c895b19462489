package lint

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultMaxFileBytes caps the size of one input file (or stdin).
const DefaultMaxFileBytes = 8 << 20

// FileReader reads manifests from files, directories and stdin.
type FileReader struct {
	Decoder *Decoder
	// MaxBytes caps each file; larger files are reported, not read.
	MaxBytes int64
	// Stdin is read for the path "-".
	Stdin io.Reader
}

// Read decodes every path: a file, a directory (walked recursively for
// *.yaml, *.yml and *.json) or "-" for stdin. Errors of one file never stop
// the others.
func (r *FileReader) Read(paths []string) ([]*Object, []InputError) {
	var objs []*Object
	var errs []InputError
	for _, p := range paths {
		if p == "-" {
			o, e := r.readStream("<stdin>", r.Stdin)
			objs, errs = append(objs, o...), append(errs, e...)
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, InputError{Location: Location{File: p}, Message: fmt.Sprintf("cannot read: %v", unwrapPathError(err))})
			continue
		}
		if !fi.IsDir() {
			o, e := r.readFile(p)
			objs, errs = append(objs, o...), append(errs, e...)
			continue
		}
		var files []string
		walkErr := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, InputError{Location: Location{File: path}, Message: fmt.Sprintf("cannot read: %v", unwrapPathError(err))})
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if !d.IsDir() && isManifestName(path) {
				files = append(files, path)
			}
			return nil
		})
		if walkErr != nil {
			errs = append(errs, InputError{Location: Location{File: p}, Message: walkErr.Error()})
		}
		sort.Strings(files)
		for _, f := range files {
			o, e := r.readFile(f)
			objs, errs = append(objs, o...), append(errs, e...)
		}
	}
	return objs, errs
}

func isManifestName(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func (r *FileReader) readFile(path string) ([]*Object, []InputError) {
	f, err := os.Open(path)
	if err != nil {
		return nil, []InputError{{Location: Location{File: path}, Message: fmt.Sprintf("cannot read: %v", unwrapPathError(err))}}
	}
	defer func() { _ = f.Close() }()
	return r.readStream(path, f)
}

func (r *FileReader) readStream(name string, rd io.Reader) ([]*Object, []InputError) {
	if rd == nil {
		return nil, []InputError{{Location: Location{File: name}, Message: "no input stream"}}
	}
	limit := r.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxFileBytes
	}
	data, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, []InputError{{Location: Location{File: name}, Message: fmt.Sprintf("cannot read: %v", unwrapPathError(err))}}
	}
	if int64(len(data)) > limit {
		return nil, []InputError{{Location: Location{File: name}, Message: fmt.Sprintf("larger than the %d-byte limit (--max-file-size): skipped", limit)}}
	}
	return r.Decoder.Decode(name, data)
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
