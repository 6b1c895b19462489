package vnode

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Environment variables a virtual node adds to every command it runs on the
// host for a pod (init containers, exec probes, exec hooks), besides the
// container's own env.
const (
	// EnvPodDir is the pod's directory on the host.
	EnvPodDir = "ZERODROP_VNODE_POD_DIR"
)

// shells whose "-c" script gets mount paths rewritten textually.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "ash": true, "zsh": true}

// pathMapper rewrites paths inside a container to paths on the host: a path
// under an emptyDir mountPath goes to that volume's host directory, and an
// absolute path that exists under the image root configured for the
// container's image goes there.
type pathMapper struct {
	mounts    []mount // longest mountPath first
	imageRoot string  // "" when the image has none
}

type mount struct {
	containerPath string
	hostPath      string
}

func newPathMapper(c *corev1.Container, volumes map[string]string, imageRoot string) pathMapper {
	m := pathMapper{imageRoot: imageRoot}
	for _, vm := range c.VolumeMounts {
		host, ok := volumes[vm.Name]
		if !ok {
			continue
		}
		if vm.SubPath != "" {
			host = filepath.Join(host, vm.SubPath)
		}
		m.mounts = append(m.mounts, mount{containerPath: path.Clean(vm.MountPath), hostPath: host})
	}
	// Longest first, so nested mounts win.
	for i := 1; i < len(m.mounts); i++ {
		for j := i; j > 0 && len(m.mounts[j].containerPath) > len(m.mounts[j-1].containerPath); j-- {
			m.mounts[j], m.mounts[j-1] = m.mounts[j-1], m.mounts[j]
		}
	}
	return m
}

// mapPath rewrites one absolute container path; other strings come back
// unchanged.
func (m pathMapper) mapPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return p
	}
	clean := path.Clean(p)
	for _, mt := range m.mounts {
		if clean == mt.containerPath {
			return mt.hostPath
		}
		if rest, ok := strings.CutPrefix(clean, mt.containerPath+"/"); ok {
			return filepath.Join(mt.hostPath, rest)
		}
	}
	if m.imageRoot != "" {
		candidate := filepath.Join(m.imageRoot, clean)
		if _, err := os.Stat(candidate); err == nil {
			return candidate
		}
	}
	return p
}

// mapArg rewrites an argument that is a path or a "--flag=path".
func (m pathMapper) mapArg(arg string) string {
	if strings.HasPrefix(arg, "/") {
		return m.mapPath(arg)
	}
	if k, v, ok := strings.Cut(arg, "="); ok && strings.HasPrefix(v, "/") {
		return k + "=" + m.mapPath(v)
	}
	return arg
}

// mapScript rewrites, inside a shell script, every word that starts with a
// mount path (or an image-root path) followed by "/" or a word end.
func (m pathMapper) mapScript(script string) string {
	words := strings.Fields(script)
	seen := map[string]bool{}
	for _, w := range words {
		w = strings.Trim(w, "\"';&|()")
		if !strings.HasPrefix(w, "/") || seen[w] {
			continue
		}
		seen[w] = true
		if mapped := m.mapArg(w); mapped != w {
			script = replaceWord(script, w, mapped)
		}
	}
	return script
}

// replaceWord replaces occurrences of old in s that are not part of a
// longer path.
func replaceWord(s, old, repl string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(old)
		before := i == 0 || strings.ContainsRune(" \t\n\"';&|()=", rune(s[i-1]))
		after := end == len(s) || strings.ContainsRune(" \t\n\"';&|()", rune(s[end]))
		b.WriteString(s[:i])
		if before && after {
			b.WriteString(repl)
		} else {
			b.WriteString(old)
		}
		s = s[end:]
	}
}

// mapCommand rewrites a whole command line (command + args, as kubelet
// joins them) for the host.
func (m pathMapper) mapCommand(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = m.mapArg(a)
	}
	if len(out) >= 3 && shells[path.Base(argv[0])] {
		for i := 1; i < len(out)-1; i++ {
			if out[i] == "-c" || (strings.HasPrefix(out[i], "-") && strings.HasSuffix(out[i], "c")) {
				out[i+1] = m.mapScript(argv[i+1])
				break
			}
		}
	}
	return out
}

// podFields are the downward-API values a virtual node can resolve.
type podFields struct {
	name, namespace, uid, podIP, hostIP, nodeName, serviceAccount string
	labels, annotations                                           map[string]string
}

// resolveEnv resolves a container's env: plain values and fieldRefs of
// metadata.name, metadata.namespace, metadata.uid, status.podIP,
// status.hostIP, spec.nodeName, spec.serviceAccountName and
// metadata.labels/annotations['key']; $(VAR) references to earlier
// variables are expanded as kubelet does. Sources it cannot resolve
// (secrets, config maps, resource fields) are reported in skipped.
func resolveEnv(c *corev1.Container, f podFields) (env []corev1.EnvVar, skipped []string) {
	vars := map[string]string{}
	for _, e := range c.Env {
		var value string
		switch {
		case e.ValueFrom == nil:
			value = expand(e.Value, func(name string) (string, bool) { v, ok := vars[name]; return v, ok })
		case e.ValueFrom.FieldRef != nil:
			v, ok := f.field(e.ValueFrom.FieldRef.FieldPath)
			if !ok {
				skipped = append(skipped, e.Name)
				continue
			}
			value = v
		default:
			skipped = append(skipped, e.Name)
			continue
		}
		vars[e.Name] = value
		env = append(env, corev1.EnvVar{Name: e.Name, Value: value})
	}
	return env, skipped
}

func (f podFields) field(fieldPath string) (string, bool) {
	switch fieldPath {
	case "metadata.name":
		return f.name, true
	case "metadata.namespace":
		return f.namespace, true
	case "metadata.uid":
		return f.uid, true
	case "status.podIP":
		return f.podIP, true
	case "status.podIPs":
		return f.podIP, true
	case "status.hostIP", "status.hostIPs":
		return f.hostIP, true
	case "spec.nodeName":
		return f.nodeName, true
	case "spec.serviceAccountName":
		return f.serviceAccount, true
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": f.labels, "metadata.annotations": f.annotations} {
		if rest, ok := strings.CutPrefix(fieldPath, prefix+"['"); ok {
			if key, ok := strings.CutSuffix(rest, "']"); ok {
				return m[key], true
			}
		}
	}
	return "", false
}

// expand replaces $(NAME) with lookup(NAME) when defined, keeps unknown
// references as they are, and turns $$ into $ (kubelet's expansion rules).
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// commandLine joins a container's command and args the way the runtime
// does, after $(VAR) expansion with env.
func commandLine(command, args []string, env []corev1.EnvVar) []string {
	vars := map[string]string{}
	for _, e := range env {
		vars[e.Name] = e.Value
	}
	lookup := func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
	var out []string
	for _, s := range append(append([]string{}, command...), args...) {
		out = append(out, expand(s, lookup))
	}
	return out
}

// hostEnv builds the environment of a host command: PATH and HOME of the
// agent process, the container's env, and the agent's own variables.
func hostEnv(env []corev1.EnvVar, extra map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, e := range env {
		out = append(out, fmt.Sprintf("%s=%s", e.Name, e.Value))
	}
	for k, v := range extra {
		out = append(out, k+"="+v)
	}
	return out
}
