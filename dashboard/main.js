/*
 * valk-aio dashboard: the page's entry point, loaded as
 * <script type="module" src="/debug/main.js"> (docs/design.md §8). It mounts
 * every panel once, in page order, then starts the two data sources
 * (sources.js). window.ValkDashboard is for the browser tests and for an
 * operator's console: the model's state and the functions that draw.
 *
 * The modules, calls going one way (main -> panels -> model, decode, format):
 *   model.js      the state and the publish/subscribe of arrivals
 *   sources.js    the /debug/metrics poll and the memory SSE stream
 *   format.js     the one formatter; classes.js colour rules; decode.js wire formats
 *   dom.js        DOM helpers
 *   controls.js   the header; panel-aio.js, panel-runtime.js, panel-servers.js
 *                 the metrics cards; panel-history.js the last 5 minutes
 *                 (history.js the ring, charts.js the SVG charts);
 *                 panel-memory.js the memory diagnostics;
 *   timeline.js   the last 600 memory snapshots; timeline-ui.js its bar (scrub back)
 *   events.js     the event log; panel-clients.js one card per sys.connect() client;
 *   alerts.js     the operator's thresholds (mounted last: it marks the panels' rows)
 * Runs on the page's only thread.
 */
import { emit, on, setPaused, state } from './model.js';
import { openSse, poll, schedule, watchdog } from './sources.js';
import * as controls from './controls.js';
import * as aio from './panel-aio.js';
import * as runtime from './panel-runtime.js';
import * as servers from './panel-servers.js';
import * as history from './panel-history.js';
import * as memory from './panel-memory.js';
import * as timeline from './timeline-ui.js';
import * as events from './events.js';
import * as clients from './panel-clients.js';
import * as alerts from './alerts.js';

// alerts.js last: it marks the rows the panels drew for the same answer.
var PANELS = [controls, aio, runtime, servers, clients, history, memory, timeline, events, alerts];

function start() {
  PANELS.forEach(function (p) {
    p.mount();
  });
  poll();
  openSse();
  watchdog();
}

window.ValkDashboard = {
  state: state,
  on: on,
  emit: emit,
  setPaused: setPaused,
  schedule: schedule,
  renderMemory: memory.renderMemory,
  applyAlerts: alerts.applyAlerts,
  history: history.history,
  timeline: timeline.timeline,
};

if (document.getElementById('valk-dashboard')) start();
