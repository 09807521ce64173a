package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/sockscope/sockscope/viz"
)

// maxStep bounds one step request: stepping is for watching.
const maxStep = 1000

// controlRequest is the body of POST /control. Every field is optional;
// they apply in the order mode, pace, step.
type controlRequest struct {
	Mode *string `json:"mode"` // "live" or "step"
	Pace *int64  `json:"pace"` // ms each gated call waits; 0 = none
	Step *int    `json:"step"` // let this many pending calls through
	N    *int    `json:"n"`    // with step: how many (overrides step's count)
}

// getControl serves GET /api/v1/control.
func (a *api) getControl(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.controlState())
}

func (a *api) controlState() viz.ControlState {
	if a.cfg.Gate != nil {
		return a.cfg.Gate.State()
	}
	return viz.ControlState{Mode: viz.ModeLive, Pending: []viz.Pending{}}
}

// postControl serves POST /api/v1/control and answers the new state.
func (a *api) postControl(w http.ResponseWriter, r *http.Request) {
	var req controlRequest
	if status, err := decodeJSON(w, r, maxControlBody, &req); err != nil {
		writeError(w, status, err.Error())
		return
	}
	g := a.cfg.Gate
	if g == nil {
		writeError(w, http.StatusConflict, "no engine to control: replaying a trace")
		return
	}
	steps := 0
	if req.Step != nil {
		steps = *req.Step
		if req.N != nil {
			steps = *req.N
		}
		if steps < 1 || steps > maxStep {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("step: want 1 to %d calls", maxStep))
			return
		}
	} else if req.N != nil {
		writeError(w, http.StatusBadRequest, "n: only with step")
		return
	}
	if req.Mode == nil && req.Pace == nil && req.Step == nil {
		writeError(w, http.StatusBadRequest, "nothing to do: want mode, pace or step")
		return
	}
	if req.Mode != nil && *req.Mode != viz.ModeLive && *req.Mode != viz.ModeStep {
		writeError(w, http.StatusBadRequest, "mode: want live or step")
		return
	}
	if req.Pace != nil && (*req.Pace < 0 || *req.Pace > viz.MaxPace.Milliseconds()) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("pace: want 0 to %d ms", viz.MaxPace.Milliseconds()))
		return
	}
	// Validated above, so none of these can fail.
	if req.Mode != nil {
		g.SetMode(*req.Mode)
	}
	if req.Pace != nil {
		g.SetPace(time.Duration(*req.Pace) * time.Millisecond)
	}
	if steps > 0 {
		g.Step(steps)
	}
	writeJSON(w, http.StatusOK, g.State())
}

// decodeJSON reads one JSON object of at most limit bytes into v, refusing
// unknown fields and trailing data. It returns the status to answer with.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) (int, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("trailing data after the JSON object")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", limit)
	case err == io.EOF:
		return http.StatusBadRequest, errors.New("empty body: want a JSON object")
	default:
		return http.StatusBadRequest, fmt.Errorf("bad JSON body: %v", err)
	}
}
