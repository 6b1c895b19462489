package lint

import (
	"math"
	"strconv"
	"strings"

	"github.com/google/shlex"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// DefaultTerminationGracePeriodSeconds is Kubernetes' default
// terminationGracePeriodSeconds.
const DefaultTerminationGracePeriodSeconds = 30

// PreStop is what a container's preStop hook costs in time.
type PreStop struct {
	// Present is true when the container has a preStop hook.
	Present bool
	// Seconds the hook sleeps: exact when Exact, else a lower bound (the
	// hook also runs commands whose duration is unknown).
	Seconds int32
	// Exact is true when the hook is nothing but sleeps.
	Exact bool
	// Source says what was counted, for messages ("exec sleep 15").
	Source string
}

// PreStopSeconds returns how long c's preStop hook waits: the native
// sleep action's seconds, or the sum of the `sleep` commands of an exec
// hook (`sleep N`, `sh -c "sleep N"`, `/bin/sh -c 'sleep N && ...'`,
// `bash -c`, GNU suffixes such as `5s` or `1m`). An httpGet hook or an exec
// hook without sleep counts as present with 0 known seconds.
func PreStopSeconds(c *corev1.Container) PreStop {
	if c == nil || c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return PreStop{}
	}
	h := c.Lifecycle.PreStop
	switch {
	case h.Sleep != nil:
		return PreStop{Present: true, Seconds: clampInt32(h.Sleep.Seconds), Exact: true, Source: "sleep action"}
	case h.Exec != nil:
		secs, exact := ExecSleepSeconds(h.Exec.Command)
		return PreStop{Present: true, Seconds: secs, Exact: exact, Source: "exec " + strings.Join(h.Exec.Command, " ")}
	case h.HTTPGet != nil:
		return PreStop{Present: true, Source: "httpGet " + h.HTTPGet.Path}
	}
	return PreStop{Present: true, Source: "unknown handler"}
}

// ExecSleepSeconds returns the seconds an exec command sleeps and whether
// that is exact (the command does nothing but sleep). It understands a
// direct sleep (`sleep 15`, `/bin/sleep 15s`) and a shell (`sh`, `bash`,
// `ash`, `dash`, `zsh`, by any path) running a -c script, in which every
// `sleep` is summed.
func ExecSleepSeconds(cmd []string) (int32, bool) {
	if len(cmd) == 0 {
		return 0, false
	}
	base := cmd[0][strings.LastIndex(cmd[0], "/")+1:]
	switch base {
	case "sleep":
		s, ok := sleepArgs(cmd[1:])
		return s, ok
	case "sh", "bash", "ash", "dash", "zsh", "busybox":
		args := cmd[1:]
		if base == "busybox" {
			if len(args) > 0 && args[0] == "sleep" {
				return sleepArgs(args[1:])
			}
			if len(args) == 0 || args[0] != "sh" {
				return 0, false
			}
			args = args[1:]
		}
		for i, a := range args {
			if strings.HasPrefix(a, "-") && strings.Contains(a, "c") && i+1 < len(args) {
				return ScriptSleepSeconds(args[i+1])
			}
		}
	}
	return 0, false
}

// ScriptSleepSeconds sums the `sleep` commands of a shell script and says
// whether the script is nothing but sleeps (and `true`, `:`, `exit 0`).
func ScriptSleepSeconds(script string) (int32, bool) {
	var total int64
	exact := true
	for _, stmt := range splitShellStatements(script) {
		words, err := shlex.Split(stmt)
		if err != nil || len(words) == 0 {
			if err != nil {
				exact = false
			}
			continue
		}
		base := words[0][strings.LastIndex(words[0], "/")+1:]
		switch base {
		case "sleep":
			s, ok := sleepArgs(words[1:])
			total += int64(s)
			exact = exact && ok
		case "true", ":", "exit":
		default:
			exact = false
		}
	}
	return clampInt32(total), exact
}

// splitShellStatements splits a script on ;, &&, ||, | and newlines. It is
// deliberately simple: quotes are not tracked across separators.
func splitShellStatements(script string) []string {
	r := strings.NewReplacer("&&", "\n", "||", "\n", ";", "\n", "|", "\n")
	return strings.Split(r.Replace(script), "\n")
}

// sleepArgs sums GNU sleep's arguments (`15`, `15s`, `1m`, `0.5h`, `1d`),
// rounding the total up to whole seconds. ok is false if an argument is not
// a duration.
func sleepArgs(args []string) (int32, bool) {
	var total float64
	ok := len(args) > 0
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			ok = false
			continue
		}
		mult := 1.0
		switch {
		case strings.HasSuffix(a, "s"):
			a = strings.TrimSuffix(a, "s")
		case strings.HasSuffix(a, "m"):
			a, mult = strings.TrimSuffix(a, "m"), 60
		case strings.HasSuffix(a, "h"):
			a, mult = strings.TrimSuffix(a, "h"), 3600
		case strings.HasSuffix(a, "d"):
			a, mult = strings.TrimSuffix(a, "d"), 86400
		}
		v, err := strconv.ParseFloat(a, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			ok = false
			continue
		}
		total += v * mult
	}
	if total > math.MaxInt32 {
		return math.MaxInt32, ok
	}
	return int32(math.Ceil(total)), ok
}

func clampInt32(v int64) int32 {
	if v > math.MaxInt32 {
		return math.MaxInt32
	}
	if v < 0 {
		return 0
	}
	return int32(v)
}

// GraceSeconds returns the pod's terminationGracePeriodSeconds with
// Kubernetes' default of 30.
func GraceSeconds(spec *corev1.PodSpec) int64 {
	if spec.TerminationGracePeriodSeconds == nil {
		return DefaultTerminationGracePeriodSeconds
	}
	return *spec.TerminationGracePeriodSeconds
}

// GraceNeeded is seed 003's formula: terminationGracePeriodSeconds must be
// at least preStop + maximum application shutdown time + safety buffer.
func GraceNeeded(preStopSeconds, shutdownSeconds, bufferSeconds int32) int64 {
	return int64(preStopSeconds) + int64(shutdownSeconds) + int64(bufferSeconds)
}

// RollingUpdate is a Deployment's rolling-update bounds resolved against
// its replicas the way the Deployment controller does.
type RollingUpdate struct {
	// Surge is maxSurge in pods (percentages rounded up).
	Surge int
	// Unavailable is maxUnavailable in pods (percentages rounded down),
	// after the controller's fencepost rule.
	Unavailable int
	// Rejected is true when both are zero as written: the API server
	// rejects the Deployment.
	Rejected bool
	// FencepostBumped is true when both resolved to zero although not
	// written as zero: the controller then allows 1 unavailable pod.
	FencepostBumped bool
}

// ResolveRollingUpdate resolves maxSurge and maxUnavailable (nil means
// Kubernetes' default of 25%) against replicas: maxSurge rounds up,
// maxUnavailable rounds down, and if both come to 0 the controller allows 1
// unavailable pod. Both written as 0 (or 0%) is rejected by validation.
func ResolveRollingUpdate(replicas int32, maxSurge, maxUnavailable *intstr.IntOrString) (RollingUpdate, error) {
	def := intstr.FromString("25%")
	if maxSurge == nil {
		maxSurge = &def
	}
	if maxUnavailable == nil {
		maxUnavailable = &def
	}
	surge, err := intstr.GetScaledValueFromIntOrPercent(maxSurge, int(replicas), true)
	if err != nil {
		return RollingUpdate{}, err
	}
	unavail, err := intstr.GetScaledValueFromIntOrPercent(maxUnavailable, int(replicas), false)
	if err != nil {
		return RollingUpdate{}, err
	}
	ru := RollingUpdate{Surge: surge, Unavailable: unavail}
	if writtenValue(maxSurge) == 0 && writtenValue(maxUnavailable) == 0 {
		ru.Rejected = true
		return ru, nil
	}
	if surge == 0 && unavail == 0 {
		ru.Unavailable = 1
		ru.FencepostBumped = true
	}
	return ru, nil
}

// writtenValue is the number as written (percent or count), as API
// validation compares it.
func writtenValue(v *intstr.IntOrString) int {
	if v.Type == intstr.Int {
		return int(v.IntVal)
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if err != nil {
		return -1
	}
	return n
}

// PDBAllowsNoEviction reports whether a PDB forbids every voluntary
// eviction of a workload of replicas pods: maxUnavailable 0 or 0%, or
// minAvailable 100% or at least replicas.
func PDBAllowsNoEviction(minAvailable, maxUnavailable *intstr.IntOrString, replicas int32) bool {
	if maxUnavailable != nil {
		n, err := intstr.GetScaledValueFromIntOrPercent(maxUnavailable, int(replicas), true)
		return err == nil && n == 0
	}
	if minAvailable != nil {
		n, err := intstr.GetScaledValueFromIntOrPercent(minAvailable, int(replicas), true)
		return err == nil && int32(n) >= replicas
	}
	return false
}

// PDBMinAvailablePods resolves minAvailable against replicas (rounding up as
// the disruption controller does); ok is false without minAvailable.
func PDBMinAvailablePods(minAvailable *intstr.IntOrString, replicas int32) (int32, bool) {
	if minAvailable == nil {
		return 0, false
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(minAvailable, int(replicas), true)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}
