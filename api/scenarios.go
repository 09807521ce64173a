package api

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/sockscope/sockscope/viz"
)

// listScenarios serves GET /api/v1/scenarios.
func (a *api) listScenarios(w http.ResponseWriter, _ *http.Request) {
	list := []viz.Scenario{}
	if a.cfg.Scenarios != nil {
		list = append(list, a.cfg.Scenarios.List()...)
	}
	writeJSON(w, http.StatusOK, list)
}

// runScenario serves POST /api/v1/scenarios/{name}: 202 with the run id,
// 404 for an unknown name, 409 while another scenario runs.
func (a *api) runScenario(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	if a.cfg.Scenarios == nil {
		writeError(w, http.StatusNotFound, "unknown scenario")
		return
	}
	id, err := a.cfg.Scenarios.Run(name)
	switch {
	case errors.Is(err, viz.ErrUnknownScenario):
		writeError(w, http.StatusNotFound, "unknown scenario")
	case errors.Is(err, viz.ErrScenarioBusy):
		writeError(w, http.StatusConflict, "another scenario is running")
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		writeJSON(w, http.StatusAccepted, struct {
			Run int64 `json:"run"`
		}{id})
	}
}
