package vnode

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestDesiredConditions(t *testing.T) {
	gate := corev1.PodConditionType("target-health.zerodrop.dev/b")
	running := containerState{Name: "app", Running: true, Started: true, Ready: true}
	unready := containerState{Name: "app", Running: true, Started: true}
	tests := []struct {
		name                 string
		gates                []corev1.PodConditionType
		existing             []corev1.PodCondition
		st                   podState
		wantContainersReady  corev1.ConditionStatus
		wantReady            corev1.ConditionStatus
		wantReason           string
		wantInitialized      corev1.ConditionStatus
		wantInitializedCause string
	}{
		{name: "ready container, no gates", st: podState{Phase: corev1.PodRunning, Containers: []containerState{running}},
			wantContainersReady: "True", wantReady: "True", wantInitialized: "True"},
		{name: "unready container", st: podState{Phase: corev1.PodRunning, Containers: []containerState{unready}},
			wantContainersReady: "False", wantReady: "False", wantReason: ReasonContainersNotReady, wantInitialized: "True"},
		{name: "missing gate condition", gates: []corev1.PodConditionType{gate},
			st:                  podState{Phase: corev1.PodRunning, Containers: []containerState{running}},
			wantContainersReady: "True", wantReady: "False", wantReason: ReasonReadinessGatesNotReady, wantInitialized: "True"},
		{name: "gate False", gates: []corev1.PodConditionType{gate},
			existing:            []corev1.PodCondition{{Type: gate, Status: corev1.ConditionFalse}},
			st:                  podState{Phase: corev1.PodRunning, Containers: []containerState{running}},
			wantContainersReady: "True", wantReady: "False", wantReason: ReasonReadinessGatesNotReady, wantInitialized: "True"},
		{name: "gate True", gates: []corev1.PodConditionType{gate},
			existing:            []corev1.PodCondition{{Type: gate, Status: corev1.ConditionTrue}},
			st:                  podState{Phase: corev1.PodRunning, Containers: []containerState{running}},
			wantContainersReady: "True", wantReady: "True", wantInitialized: "True"},
		{name: "unready container wins over gates", gates: []corev1.PodConditionType{gate},
			existing:            []corev1.PodCondition{{Type: gate, Status: corev1.ConditionTrue}},
			st:                  podState{Phase: corev1.PodRunning, Containers: []containerState{unready}},
			wantContainersReady: "False", wantReady: "False", wantReason: ReasonContainersNotReady, wantInitialized: "True"},
		{name: "init container pending", st: podState{Phase: corev1.PodPending,
			InitContainers: []containerState{{Name: "init", Running: true}}, Containers: []containerState{{Name: "app"}}},
			wantContainersReady: "False", wantReady: "False", wantReason: ReasonContainersNotReady,
			wantInitialized: "False", wantInitializedCause: ReasonContainersNotInitialized},
		{name: "failed pod", st: podState{Phase: corev1.PodFailed, Containers: []containerState{{Name: "app", Terminated: true, ExitCode: 143}}},
			wantContainersReady: "False", wantReady: "False", wantReason: ReasonPodFailed, wantInitialized: "True"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{}
			for _, g := range tt.gates {
				pod.Spec.ReadinessGates = append(pod.Spec.ReadinessGates, corev1.PodReadinessGate{ConditionType: g})
			}
			pod.Status.Conditions = tt.existing
			got := map[corev1.PodConditionType]corev1.PodCondition{}
			for _, c := range desiredConditions(pod, tt.st, conditionMemory{}, time.Now()) {
				got[c.Type] = c
			}
			if len(got) != len(ownedConditions) {
				t.Errorf("got %d conditions, want only the %d owned ones", len(got), len(ownedConditions))
			}
			if c := got[corev1.ContainersReady]; c.Status != tt.wantContainersReady {
				t.Errorf("ContainersReady = %s, want %s", c.Status, tt.wantContainersReady)
			}
			if c := got[corev1.PodReady]; c.Status != tt.wantReady || c.Reason != tt.wantReason {
				t.Errorf("Ready = %s/%s, want %s/%s", c.Status, c.Reason, tt.wantReady, tt.wantReason)
			}
			if c := got[corev1.PodInitialized]; c.Status != tt.wantInitialized || c.Reason != tt.wantInitializedCause {
				t.Errorf("Initialized = %s/%s, want %s/%s", c.Status, c.Reason, tt.wantInitialized, tt.wantInitializedCause)
			}
			if _, ok := got[gate]; ok {
				t.Errorf("the node emitted the gate condition it does not own")
			}
		})
	}
}

func TestDesiredConditions_transitionTimeChangesOnlyOnTransition(t *testing.T) {
	mem := conditionMemory{}
	pod := &corev1.Pod{}
	st := podState{Phase: corev1.PodRunning, Containers: []containerState{{Name: "app", Running: true, Started: true}}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ready := func(now time.Time) corev1.PodCondition {
		for _, c := range desiredConditions(pod, st, mem, now) {
			if c.Type == corev1.PodReady {
				return c
			}
		}
		t.Fatal("no Ready condition")
		return corev1.PodCondition{}
	}
	first := ready(t0)
	if same := ready(t0.Add(time.Minute)); !same.LastTransitionTime.Equal(&first.LastTransitionTime) {
		t.Errorf("transition time moved without a transition")
	}
	st.Containers[0].Ready = true
	if flipped := ready(t0.Add(2 * time.Minute)); flipped.LastTransitionTime.Equal(&first.LastTransitionTime) {
		t.Errorf("transition time kept across False->True")
	}
}

func TestProbeCounter_observe(t *testing.T) {
	s := probeSettings{successThreshold: 2, failureThreshold: 3}
	pc := newProbeCounter(probeReadiness)
	steps := []struct {
		in          probeResult
		wantState   probeResult
		wantChanged bool
	}{
		{probeSuccess, probeFailure, false}, // 1 of 2 successes
		{probeSuccess, probeSuccess, true},  // 2 of 2
		{probeFailure, probeSuccess, false}, // 1 of 3 failures
		{probeFailure, probeSuccess, false}, // 2 of 3
		{probeSuccess, probeSuccess, false}, // streak broken
		{probeFailure, probeSuccess, false},
		{probeFailure, probeSuccess, false},
		{probeFailure, probeFailure, true}, // 3 of 3
	}
	for i, st := range steps {
		state, changed := pc.observe(st.in, s)
		if state != st.wantState || changed != st.wantChanged {
			t.Fatalf("step %d: state %v changed %v, want %v %v", i, state, changed, st.wantState, st.wantChanged)
		}
	}
	if newProbeCounter(probeLiveness).state != probeSuccess {
		t.Errorf("liveness must start successful, as in kubelet")
	}
}

// TestOwnedPart_matchesWhatWasWritten proves a resync finds nothing to send
// for a pod whose status holds what the node wrote beside conditions of
// others (a gate, PodScheduled), and something once an owned condition
// differs.
func TestOwnedPart_matchesWhatWasWritten(t *testing.T) {
	now := time.Now()
	pod := &corev1.Pod{}
	st := podState{Phase: corev1.PodRunning, PodIP: "127.100.0.5", HostIP: "127.100.0.1", StartTime: now,
		Containers: []containerState{{Name: "app", Running: true, Started: true, Ready: true}}}
	desired := desiredStatus(pod, st, conditionMemory{}, now)
	api := *desired.DeepCopy()
	api.Conditions = append([]corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}, api.Conditions...)
	api.Conditions = append(api.Conditions, corev1.PodCondition{Type: "target-health.zerodrop.dev/b", Status: corev1.ConditionFalse})
	want, err := statusPatch(desired)
	if err != nil {
		t.Fatal(err)
	}
	have, err := statusPatch(ownedPart(api, desired))
	if err != nil {
		t.Fatal(err)
	}
	if string(have) != string(want) {
		t.Errorf("owned part of the API's status:\n%s\nwant what was written:\n%s", have, want)
	}
	for i := range api.Conditions {
		if api.Conditions[i].Type == corev1.PodReady {
			api.Conditions[i].Status = corev1.ConditionFalse // someone overwrote it
		}
	}
	if have, _ := statusPatch(ownedPart(api, desired)); string(have) == string(want) {
		t.Error("an overwritten Ready condition compares equal to what the node wants")
	}
}

func TestNextRetry_doublesUpToTheResync(t *testing.T) {
	var got []time.Duration
	var d time.Duration
	for range 7 {
		d = nextRetry(d)
		got = append(got, d)
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, statusResync, statusResync}
	if !slices.Equal(got, want) {
		t.Errorf("retries %v, want %v", got, want)
	}
}
