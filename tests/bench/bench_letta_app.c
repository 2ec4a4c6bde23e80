/*
 * bench_letta_app: what reading one App Server turn costs lettamx, the
 * CPU part of the added latency turn_finished -> Matrix PUT (the turn's
 * frames come in a burst and are all read before the answer is stored).
 *
 *   bench letta_app_turn: N us per turn    the server frames of one warm
 *                                          echo turn (13 frames, ~14 KB,
 *                                          as tools/fake_app_server.py
 *                                          and letta-code 0.32.18 send
 *                                          them), through ws_reader_feed
 *                                          and letta_app_frame_parse,
 *                                          median of 7 runs
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "letta/letta_app.h"
#include "net/ws.h"
#include "bench_clock.h"

#define RUNS  7
#define TURNS 2000
#define WIRE_CAP (64u << 10)

#define RT "\"runtime\":{\"agent_id\":\"agent-local-2a732fcb-8c01-43b7" \
           "-b151-f705fde04fad\",\"conversation_id\":\"default\"}"
#define ENV(seq, type) ",\"event_seq\":" #seq ",\"emitted_at\":\"2026-12" \
           "-07T18:18:36.882Z\",\"idempotency_key\":\"" type ":" #seq    \
           ":59870cc6-0299-4b18-aaea-99668dd24f65\"}"
#define LOOP(seq, status, runs) "{\"type\":\"update_loop_status\","     \
           "\"loop_status\":{\"status\":\"" status "\",\"active_run_ids\"" \
           ":[" runs "],\"client_message_ids_by_run_id\":{\"local-run-1\"" \
           ":[\"cm-0\"],\"local-run-2\":[\"cm-1\"]},\"executing_tool_call" \
           "_ids\":[]}," RT ENV(seq, "update_loop_status")

/* The status a runtime sends around every turn: ~3.3 KB that lettamx
 * reads only to find it is not its business. */
#define DEVICE(seq) "{\"type\":\"update_device_status\",\"device_status\"" \
	":{\"current_connection_id\":\"app-server\",\"connection_name\":"  \
	"\"fake-app-server\",\"is_online\":true,\"is_processing\":true,"     \
	"\"current_permission_mode\":\"standard\",\"current_working_"       \
	"directory\":\"/srv/lettamx\",\"git_context\":null,\"letta_code_"   \
	"version\":null,\"current_toolset\":\"default\",\"current_toolset_" \
	"preference\":\"auto\",\"available_toolsets\":["                     \
	TOOLSET("auto", "Auto", "Auto", "Auto-select based on the model") "," \
	TOOLSET("letta", "Letta", "Letta toolset", "Experimental unified "   \
	        "toolset for every model") ","                                \
	TOOLSET("none", "None", "None", "Empty built-in preset; keeps "      \
	        "connected tools") ","                                        \
	TOOLSET("default", "Claude", "Claude toolset", "Optimized for "      \
	        "Anthropic models, recommended for all non-OpenAI models") "," \
	TOOLSET("codex", "Codex", "Codex toolset", "Optimized for GPT/Codex " \
	        "models") "],\"current_loaded_tools\":[\"AskUserQuestion\","  \
	"\"Bash\",\"Monitor\",\"EnterWorktree\",\"ExitWorktree\",\"Set"      \
	"WorkingDirectory\",\"Edit\",\"TaskStop\",\"memory\",\"Read\","      \
	"\"Skill\",\"Workflow\",\"Agent\",\"SendAgentMessage\",\"Task"       \
	"Create\",\"TaskGet\",\"TaskList\",\"TaskUpdate\",\"Write\"],"       \
	"\"current_available_skills\":[],\"background_processes\":[],"      \
	"\"pending_control_requests\":[],\"experiments\":["                  \
	EXPERIMENT("artifacts", "Expose Letta Code Desktop artifact "        \
	           "creation tools and artifact UI surfaces.") ","            \
	EXPERIMENT("conversation_titles", "Generate AI conversation titles " \
	           "automatically when possible.") ","                        \
	EXPERIMENT("desktop_conversation_bootstrap", "Inject lightweight "   \
	           "prior-conversation context into the first turn of "      \
	           "brand-new Letta Code conversations.") ","                 \
	EXPERIMENT("diffs", "Open browser-based worktree diff previews "     \
	           "powered by Diffs from Pierre.") ","                       \
	EXPERIMENT("reflection_arena", "Run blind A/B comparisons between "  \
	           "reflection models on the same transcript sample.") ","    \
	EXPERIMENT("tui_cron", "Fire scheduled tasks from the CLI when the " \
	           "desktop app isn't running.") "],\"memory_directory\":"    \
	"\"/srv/lettamx/memfs/agent-local-2a732fcb-8c01-43b7-b151-f705fde04" \
	"fad/memory\",\"cwd_revision\":0,\"should_doctor\":false,"          \
	"\"supported_commands\":[\"clear\",\"clear-messages\",\"doctor\","   \
	"\"dream\",\"reflect\",\"reflection\",\"init\",\"compact\","        \
	"\"reload\",\"context-limit\",\"channels\",\"upgrade-letta-code\","  \
	"\"toolset\",\"secret\",\"monitor_stop\"],\"reflection_settings\":"  \
	"{\"agent_id\":\"agent-local-2a732fcb-8c01-43b7-b151-f705fde04fad\"" \
	",\"trigger\":\"step-count\",\"step_count\":25,\"merge\":\"auto\","  \
	"\"merge_instructions\":\"\"}}," RT ENV(seq, "update_device_status")
#define TOOLSET(id, name, label, what) "{\"id\":\"" id "\",\"display_"  \
	"name\":\"" name "\",\"label\":\"" label "\",\"description\":\""     \
	what "\",\"is_featured\":true}"
#define EXPERIMENT(id, what) "{\"id\":\"" id "\",\"label\":\"" id "\","   \
	"\"description\":\"" what "\",\"enabled\":false,\"source\":"         \
	"\"default\",\"override\":null}"
#define DELTA(seq, body) "{\"type\":\"stream_delta\",\"delta\":{" body   \
	",\"run_id\":\"local-run-2\",\"seq_id\":" #seq ",\"type\":"          \
	"\"message\"}," RT ENV(seq, "stream_delta")

/* One warm echo turn, in the order the server sends it. */
static const char *const turn[] = {
	"{\"type\":\"input_accepted\",\"request_id\":\"r42\"," RT
	",\"accepted\":true,\"disposition\":\"started\"}",
	LOOP(18, "SENDING_API_REQUEST", ""),
	DEVICE(19),
	LOOP(20, "WAITING_FOR_API_RESPONSE", ""),
	LOOP(21, "PROCESSING_API_RESPONSE", ""),
	LOOP(22, "PROCESSING_API_RESPONSE", "\"local-run-2\""),
	DELTA(23, "\"id\":\"ui-msg-4\",\"date\":\"2026-12-07T18:18:36.882Z\","
	      "\"message_type\":\"assistant_message\",\"content\":[{\"type\":"
	      "\"text\",\"text\":\"You said: @alice:example.org: what does "
	      "the caf\\u00e9 serve on Sundays? \\ud83d\\ude00\"}]"),
	DELTA(24, "\"id\":\"letta-msg-4\",\"message_type\":\"usage_statistics"
	      "\",\"prompt_tokens\":3,\"completion_tokens\":5,\"total_tokens\""
	      ":8,\"cached_input_tokens\":0,\"context_tokens\":8"),
	DELTA(25, "\"message_type\":\"stop_reason\",\"stop_reason\":"
	      "\"end_turn\""),
	LOOP(26, "WAITING_ON_INPUT", ""),
	DEVICE(27),
	"{\"type\":\"turn_finished\",\"turn_id\":\"batch-direct-12ece1ee-a4ef-"
	"4362-a922-b38aec7ba202\",\"stop_reason\":\"end_turn\",\"run_id\":"
	"\"local-run-2\"," RT ENV(28, "turn_finished"),
	DEVICE(29),
};
#define NFRAMES (sizeof turn / sizeof turn[0])

/* The turn as a server writes it: unmasked text frames, back to back. */
static size_t wire_turn(unsigned char *w, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < NFRAMES; i++) {
		size_t len = strlen(turn[i]);

		if (len > 65535 || n + 4 + len > cap)
			return 0;
		w[n++] = 0x81;
		if (len < 126) {
			w[n++] = (unsigned char)len;
		} else {
			w[n++] = 126;
			w[n++] = (unsigned char)(len >> 8);
			w[n++] = (unsigned char)len;
		}
		memcpy(w + n, turn[i], len);
		n += len;
	}
	return n;
}

/* Reads the turn as ws_conn does (16 KiB reads); returns the frames read
 * whole, or -1. */
static int read_turn(const unsigned char *w, size_t n, struct json *j,
                     struct letta_app_frame *f, void *msg, size_t mcap)
{
	struct ws_reader r;
	size_t off = 0;
	int frames = 0;

	ws_reader_init(&r, msg, mcap);
	while (off < n) {
		size_t chunk = n - off < 16384 ? n - off : 16384;
		struct ws_msg m;
		int k = ws_reader_feed(&r, w + off, chunk, &m);

		if (k < 0)
			return -1;
		off += (size_t)k;
		if (m.op != WS_OP_TEXT)
			continue;
		if (letta_app_frame_parse(j, m.data, m.len, f))
			return -1;
		frames++;
	}
	return frames;
}

int main(void)
{
	static unsigned char wire[WIRE_CAP];
	struct letta_app_frame *f = malloc(sizeof *f);
	void *msg = malloc(WIRE_CAP);
	size_t n = wire_turn(wire, sizeof wire);
	double t[RUNS], t0;
	struct json j;

	json_init(&j);
	for (int i = 0; i < RUNS && f && msg && n; i++) {
		t0 = us_now();
		for (int k = 0; k < TURNS; k++)
			if (read_turn(wire, n, &j, f, msg, WIRE_CAP) !=
			    (int)NFRAMES) {
				printf("bench letta_app_turn: FAILED\n");
				return 1;
			}
		t[i] = (us_now() - t0) / TURNS;
	}
	if (!f || !msg || !n) {
		printf("bench letta_app_turn: FAILED (setup)\n");
		return 1;
	}
	qsort(t, RUNS, sizeof *t, cmp);
	printf("bench letta_app_turn: %.1f us per turn (%zu frames, %zu "
	       "bytes: %.0f MB/s)\n", t[RUNS / 2], NFRAMES, n,
	       (double)n / t[RUNS / 2]);
	json_free(&j);
	free(msg);
	free(f);
	return 0;
}
