/*
 * letta_app: the App Server's commands (exact JSON), its messages as the
 * real server sent them (frames copied from shared/reference/
 * letta-app-server/frames*.jsonl, long ones cut to a few keys; frames
 * the recordings lack are built from protocol_v2.d.ts and say so),
 * malformed messages, caps, and the history reader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "harness.h"
#include "letta/letta.h"
#include "letta/letta_app.h"
#include "letta/letta_msg.h"

#define AG1 "agent-local-3da277ef-3289-4a21-989d-fb0f9cbecab8"
#define AG2 "agent-local-44dadc50-4fbe-437b-8a27-cffb28317944"
#define AG3 "agent-local-bd82f3b8-18d9-4324-905d-a7844f96f3f5"

/* frames.jsonl:1 */
static const char F_INFO[] =
	"{\"type\":\"app_server_info_response\",\"request_id\":\"r1\",\"suc"
	"cess\":true,\"backend\":\"local\",\"letta_code_version\":\"0.32.18"
	"\",\"protocol_version\":1,\"capabilities\":{\"agent_management\":t"
	"rue,\"conversation_management\":true,\"memory_management\":true,\""
	"runtime_start\":true,\"launch_subagent\":true,\"runtime_workspace_"
	"sandbox\":true,\"runtime_external_tools_update\":true,\"structured"
	"_outputs\":false,\"split_channels\":false}}";
/* frames2.jsonl:1 */
static const char F_AGENTS[] =
	"{\"type\":\"agent_list_response\",\"request_id\":\"q1\",\"success"
	"\":true,\"agents\":[{\"id\":\"" AG2 "\",\"name\":\"matrix-probe-re"
	"named\",\"description\":null,\"system\":\"\",\"tools\":[],\"tags\""
	":[\"git-memory-enabled\",\"origin:letta-code\"],\"model\":\"openai"
	"-compatible/dummy-model\",\"model_settings\":{\"provider_type\":\""
	"openai-compatible\",\"context_window_limit\":128000,\"max_tokens\""
	":32000},\"message_ids\":[],\"in_context_message_ids\":[],\"last_ru"
	"n_completion\":\"2026-12-07T13:35:17.169Z\",\"llm_config\":{\"mode"
	"l\":\"dummy-model\",\"model_endpoint_type\":\"openai-compatible\","
	"\"model_endpoint\":\"https://example.invalid/v1\",\"context_window"
	"\":128000,\"max_tokens\":32000}}]}";
/* frames2.jsonl:42 */
static const char F_AGENTS_NONE[] =
	"{\"type\":\"agent_list_response\",\"request_id\":\"q5\",\"success"
	"\":true,\"agents\":[]}";
/* frames2.jsonl:2, agent and conversation cut to a few keys */
static const char F_RUNTIME[] =
	"{\"type\":\"runtime_start_response\",\"request_id\":\"q2\",\"succe"
	"ss\":true,\"runtime\":{\"agent_id\":\"" AG2 "\",\"conversation_id"
	"\":\"default\"},\"agent\":{\"id\":\"" AG2 "\",\"name\":\"matrix-pr"
	"obe-renamed\",\"description\":null,\"tags\":[\"git-memory-enabled"
	"\",\"origin:letta-code\"],\"model\":\"openai-compatible/dummy-mode"
	"l\",\"last_run_completion\":\"2026-12-07T13:35:17.169Z\"},\"conver"
	"sation\":{\"id\":\"default\",\"agent_id\":\"" AG2 "\",\"archived\""
	":false,\"last_message_at\":null,\"summary\":null},\"created\":{\"a"
	"gent\":false,\"conversation\":false}}";
/* frames.jsonl:12 */
static const char F_ACCEPTED[] =
	"{\"type\":\"input_accepted\",\"request_id\":\"r8\",\"runtime\":{\""
	"agent_id\":\"" AG1 "\",\"conversation_id\":\"local-conv-1\"},\"acc"
	"epted\":true,\"disposition\":\"started\"}";
/* frames.jsonl:7 */
static const char F_LOOP_IDLE[] =
	"{\"type\":\"update_loop_status\",\"loop_status\":{\"status\":\"WAI"
	"TING_ON_INPUT\",\"active_run_ids\":[],\"executing_tool_call_ids\":"
	"[]},\"runtime\":{\"agent_id\":\"" AG1 "\",\"conversation_id\":\"lo"
	"cal-conv-1\"},\"event_seq\":2,\"emitted_at\":\"2026-12-07T13:41:09"
	".963Z\",\"idempotency_key\":\"update_loop_status:2:6bed398c-7135-4"
	"e5c-a461-b39a9bfd86da\"}";
/* frames.jsonl:8 */
static const char F_QUEUE[] =
	"{\"type\":\"update_queue\",\"queue\":[],\"removed\":[],\"runtime\""
	":{\"agent_id\":\"" AG1 "\",\"conversation_id\":\"local-conv-1\"},"
	"\"event_seq\":3,\"emitted_at\":\"2026-12-07T13:41:09.963Z\",\"idem"
	"potency_key\":\"update_queue:3:223a81b5-ee12-42ef-85ca-69c4d66c412"
	"2\"}";
/* frames.jsonl:17 */
static const char F_LOOP_RUN[] =
	"{\"type\":\"update_loop_status\",\"loop_status\":{\"status\":\"PRO"
	"CESSING_API_RESPONSE\",\"active_run_ids\":[\"local-run-1\"],\"clie"
	"nt_message_ids_by_run_id\":{\"local-run-1\":[\"cm-1\"]},\"executin"
	"g_tool_call_ids\":[]},\"runtime\":{\"agent_id\":\"" AG1 "\",\"conv"
	"ersation_id\":\"local-conv-1\"},\"event_seq\":9,\"emitted_at\":\"2"
	"026-12-07T13:41:10.456Z\",\"idempotency_key\":\"update_loop_status"
	":9:597b48e7-a5ad-4b79-a811-99f5862f6142\"}";
/* frames.jsonl:18-20, the turn's three chunks */
static const char F_DELTA_1[] =
	"{\"type\":\"stream_delta\",\"delta\":{\"id\":\"ui-msg-2\",\"date\""
	":\"2026-12-07T13:41:10.447Z\",\"agent_id\":\"" AG1 "\",\"conversat"
	"ion_id\":\"local-conv-1\",\"message_type\":\"assistant_message\","
	"\"content\":[{\"type\":\"text\",\"text\":\"Hello \"}],\"run_id\":"
	"\"local-run-1\",\"seq_id\":1,\"type\":\"message\"},\"runtime\":{\""
	"agent_id\":\"" AG1 "\",\"conversation_id\":\"local-conv-1\"},\"eve"
	"nt_seq\":10,\"emitted_at\":\"2026-12-07T13:41:10.460Z\",\"idempote"
	"ncy_key\":\"stream_delta:10:3f0dfb55-ca59-422d-ba71-e5c41a4bffba\""
	"}";
static const char F_DELTA_2[] =
	"{\"type\":\"stream_delta\",\"delta\":{\"id\":\"ui-msg-2\",\"date\""
	":\"2026-12-07T13:41:10.463Z\",\"agent_id\":\"" AG1 "\",\"conversat"
	"ion_id\":\"local-conv-1\",\"message_type\":\"assistant_message\","
	"\"content\":[{\"type\":\"text\",\"text\":\"from the \"}],\"run_id"
	"\":\"local-run-1\",\"seq_id\":2,\"type\":\"message\"},\"runtime\":"
	"{\"agent_id\":\"" AG1 "\",\"conversation_id\":\"local-conv-1\"},\""
	"event_seq\":11,\"emitted_at\":\"2026-12-07T13:41:10.468Z\",\"idemp"
	"otency_key\":\"stream_delta:11:fe44e371-9159-47f8-b85f-120c02afb48"
	"1\"}";
static const char F_DELTA_3[] =
	"{\"type\":\"stream_delta\",\"delta\":{\"id\":\"ui-msg-2\",\"date\""
	":\"2026-12-07T13:41:10.469Z\",\"agent_id\":\"" AG1 "\",\"conversat"
	"ion_id\":\"local-conv-1\",\"message_type\":\"assistant_message\","
	"\"content\":[{\"type\":\"text\",\"text\":\"dummy model.\"}],\"run_"
	"id\":\"local-run-1\",\"seq_id\":3,\"type\":\"message\"},\"runtime"
	"\":{\"agent_id\":\"" AG1 "\",\"conversation_id\":\"local-conv-1\"}"
	",\"event_seq\":12,\"emitted_at\":\"2026-12-07T13:41:10.470Z\",\"id"
	"empotency_key\":\"stream_delta:12:da94735e-12fc-4926-9397-f53568bd"
	"019f\"}";
/* frames.jsonl:21 */
static const char F_USAGE[] =
	"{\"type\":\"stream_delta\",\"delta\":{\"id\":\"letta-msg-4\",\"dat"
	"e\":\"2026-12-07T13:41:10.484Z\",\"agent_id\":\"" AG1 "\",\"conver"
	"sation_id\":\"local-conv-1\",\"message_type\":\"usage_statistics\""
	",\"prompt_tokens\":5,\"completion_tokens\":6,\"total_tokens\":11,"
	"\"cached_input_tokens\":0,\"cache_write_tokens\":0,\"reasoning_tok"
	"ens\":0,\"context_tokens\":11,\"run_id\":\"local-run-1\",\"seq_id"
	"\":4,\"type\":\"message\"},\"runtime\":{\"agent_id\":\"" AG1 "\","
	"\"conversation_id\":\"local-conv-1\"},\"event_seq\":13,\"emitted_a"
	"t\":\"2026-12-07T13:41:10.484Z\",\"idempotency_key\":\"stream_delt"
	"a:13:22317631-9324-4de8-a015-02b257147b63\"}";
/* frames.jsonl:22 */
static const char F_STOP[] =
	"{\"type\":\"stream_delta\",\"delta\":{\"message_type\":\"stop_reas"
	"on\",\"stop_reason\":\"end_turn\",\"run_id\":\"local-run-1\",\"seq"
	"_id\":5,\"type\":\"message\"},\"runtime\":{\"agent_id\":\"" AG1
	"\",\"conversation_id\":\"local-conv-1\"},\"event_seq\":14,\"emitte"
	"d_at\":\"2026-12-07T13:41:10.487Z\",\"idempotency_key\":\"stream_d"
	"elta:14:1f516a71-8efc-4e40-85c4-4ceac6b543a9\"}";
/* frames.jsonl:23 */
static const char F_LOOP_DONE[] =
	"{\"type\":\"update_loop_status\",\"loop_status\":{\"status\":\"WAI"
	"TING_ON_INPUT\",\"active_run_ids\":[],\"client_message_ids_by_run_"
	"id\":{\"local-run-1\":[\"cm-1\"]},\"executing_tool_call_ids\":[]},"
	"\"runtime\":{\"agent_id\":\"" AG1 "\",\"conversation_id\":\"local-"
	"conv-1\"},\"event_seq\":15,\"emitted_at\":\"2026-12-07T13:41:10.66"
	"7Z\",\"idempotency_key\":\"update_loop_status:15:c9d81a3c-8f09-486"
	"b-b759-de1f6c89399f\"}";
/* frames.jsonl:25 */
static const char F_TURN[] =
	"{\"type\":\"turn_finished\",\"turn_id\":\"batch-direct-b42db645-93"
	"5b-4585-b139-5ab7c4a9522a\",\"stop_reason\":\"end_turn\",\"run_id"
	"\":\"local-run-1\",\"runtime\":{\"agent_id\":\"" AG1 "\",\"convers"
	"ation_id\":\"local-conv-1\"},\"event_seq\":17,\"emitted_at\":\"202"
	"6-12-07T13:41:10.668Z\",\"idempotency_key\":\"turn_finished:17:b04"
	"4c254-b93d-4ccc-827d-8dce743709ad\"}";
/* frames.jsonl:27, the three <system-reminder> texts cut short */
static const char F_HIST[] =
	"{\"type\":\"conversation_messages_list_response\",\"request_id\":"
	"\"r9\",\"success\":true,\"messages\":[{\"id\":\"ui-msg-2\",\"date"
	"\":\"2026-12-07T13:41:10.452Z\",\"agent_id\":\"" AG1 "\",\"convers"
	"ation_id\":\"local-conv-1\",\"message_type\":\"assistant_message\""
	",\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":"
	"\"Hello from the dummy model.\"}]},{\"id\":\"ui-msg-1\",\"date\":"
	"\"2026-12-07T13:41:10.349Z\",\"agent_id\":\"" AG1 "\",\"conversati"
	"on_id\":\"local-conv-1\",\"message_type\":\"user_message\",\"role"
	"\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"<system-rem"
	"inder>\\nThis is an automated message providing context about the "
	"user's environment.\\n...\\n</system-reminder>\"},{\"type\":\"text"
	"\",\"text\":\"<system-reminder> This is an automated message provi"
	"ding information about you.\\n...\\n</system-reminder>\"},{\"type"
	"\":\"text\",\"text\":\"<system-reminder>\\nMCP servers with availa"
	"ble tools: None\\n...\\n</system-reminder>\"},{\"type\":\"text\","
	"\"text\":\"Hello agent, reply briefly.\"}],\"otid\":\"cm-1\"}],\"n"
	"ext_before\":\"ui-msg-1\",\"has_more\":false}";
/* frames.jsonl:28 */
static const char F_ABORT[] =
	"{\"type\":\"abort_message_response\",\"request_id\":\"r10\",\"runt"
	"ime\":{\"agent_id\":\"" AG1 "\",\"conversation_id\":\"local-conv-1"
	"\"},\"aborted\":false,\"success\":true}";
/* frames2.jsonl:40 */
static const char F_LOOP_ERROR[] =
	"{\"type\":\"stream_delta\",\"delta\":{\"id\":\"lifecycle-0d675e1f-"
	"156b-47c8-8827-7f4643aad0e3\",\"date\":\"2026-12-07T13:37:08.477Z"
	"\",\"message_type\":\"loop_error\",\"message\":\"Protocol violatio"
	"n: input.kind=approval_response requires payload.request_id and ei"
	"ther payload.decision or payload.error\",\"stop_reason\":\"error\""
	",\"is_terminal\":false},\"runtime\":{\"agent_id\":\"" AG2 "\",\"co"
	"nversation_id\":\"default\"},\"event_seq\":37,\"emitted_at\":\"202"
	"6-12-07T13:37:08.477Z\",\"idempotency_key\":\"stream_delta:37:b865"
	"a34c-7dce-4690-9eb3-0edb76c47e22\"}";
/* frames3.jsonl:13 */
static const char F_APPROVAL[] =
	"{\"type\":\"stream_delta\",\"delta\":{\"id\":\"letta-msg-19\",\"da"
	"te\":\"2026-12-07T13:38:15.492Z\",\"agent_id\":\"" AG3 "\",\"conve"
	"rsation_id\":\"default\",\"message_type\":\"approval_request_messa"
	"ge\",\"tool_call\":{\"tool_call_id\":\"call_1\",\"name\":\"Bash\","
	"\"arguments\":\"{\\\"command\\\":\\\"echo probe-ok\\\",\\\"descrip"
	"tion\\\":\\\"probe\\\"}\"},\"run_id\":\"local-run-6\",\"seq_id\":1"
	",\"type\":\"message\"},\"runtime\":{\"agent_id\":\"" AG3 "\",\"con"
	"versation_id\":\"default\"},\"event_seq\":10,\"emitted_at\":\"2026"
	"-12-07T13:38:15.494Z\",\"idempotency_key\":\"stream_delta:10:bc21a"
	"c0f-5fdd-445f-9b3d-5f66121396e2\"}";
/* frames3.jsonl:15 */
static const char F_STOP_WAIT[] =
	"{\"type\":\"stream_delta\",\"delta\":{\"message_type\":\"stop_reas"
	"on\",\"stop_reason\":\"requires_approval\",\"run_id\":\"local-run-"
	"6\",\"seq_id\":3,\"type\":\"message\"},\"runtime\":{\"agent_id\":"
	"\"" AG3 "\",\"conversation_id\":\"default\"},\"event_seq\":12,\"em"
	"itted_at\":\"2026-12-07T13:38:15.499Z\",\"idempotency_key\":\"stre"
	"am_delta:12:ca1b7126-d8e6-455a-aa72-224019d72b32\"}";
/* frames3.jsonl:16 */
static const char F_CLASSIFY[] =
	"{\"type\":\"stream_delta\",\"delta\":{\"id\":\"lifecycle-6a70605f-"
	"1a71-459e-bb81-8041aed387fb\",\"date\":\"2026-12-07T13:38:15.504Z"
	"\",\"message_type\":\"approval_classification_end\",\"run_id\":\"l"
	"ocal-run-6\",\"auto_allowed_tool_call_ids\":[],\"auto_denied_tool_"
	"call_ids\":[],\"user_input_tool_call_ids\":[\"call_1\"]},\"runtime"
	"\":{\"agent_id\":\"" AG3 "\",\"conversation_id\":\"default\"},\"ev"
	"ent_seq\":13,\"emitted_at\":\"2026-12-07T13:38:15.504Z\",\"idempot"
	"ency_key\":\"stream_delta:13:c2c463ec-8220-46ff-b009-30ffba4e66f9"
	"\"}";
/* frames3.jsonl:17 */
static const char F_LOOP_APPROVAL[] =
	"{\"type\":\"update_loop_status\",\"loop_status\":{\"status\":\"WAI"
	"TING_ON_APPROVAL\",\"active_run_ids\":[\"local-run-6\"],\"executin"
	"g_tool_call_ids\":[]},\"runtime\":{\"agent_id\":\"" AG3 "\",\"conv"
	"ersation_id\":\"default\"},\"event_seq\":14,\"emitted_at\":\"2026-"
	"12-07T13:38:15.510Z\",\"idempotency_key\":\"update_loop_status:14:"
	"18f95e84-1c84-4e07-a74c-424a95ee6701\"}";
/* frames3.jsonl:18 */
static const char F_CONTROL[] =
	"{\"type\":\"control_request\",\"request_id\":\"perm-call_1\",\"req"
	"uest\":{\"subtype\":\"can_use_tool\",\"tool_name\":\"Bash\",\"inpu"
	"t\":{\"command\":\"echo probe-ok\",\"description\":\"probe\"},\"to"
	"ol_call_id\":\"call_1\",\"permission_suggestions\":[{\"id\":\"save"
	"-default\",\"text\":\"Yes, and don't ask again for 'echo' commands"
	" in this project\"}],\"blocked_path\":null},\"agent_id\":\"" AG3
	"\",\"conversation_id\":\"default\",\"runtime\":{\"agent_id\":\""
	AG3 "\",\"conversation_id\":\"default\"},\"event_seq\":15,\"emit"
	"ted_at\":\"2026-12-07T13:38:15.511Z\",\"idempotency_key\":\"contro"
	"l_request:15:41fef46d-67e0-4419-9796-3e54e8a0e91a\"}";
/* frames3.jsonl:27 without its tool_returns copy */
static const char F_TOOL_RETURN[] =
	"{\"type\":\"stream_delta\",\"delta\":{\"type\":\"message\",\"messa"
	"ge_type\":\"tool_return_message\",\"id\":\"synthetic-tool-return-4"
	"737569c-ed8c-4f0e-923e-6399c8cea29b\",\"date\":\"2026-12-07T13:38:"
	"15.526Z\",\"run_id\":\"local-run-6\",\"status\":\"error\",\"tool_c"
	"all_id\":\"call_1\",\"tool_return\":\"denied by probe\"},\"runtime"
	"\":{\"agent_id\":\"" AG3 "\",\"conversation_id\":\"default\"},\"ev"
	"ent_seq\":24,\"emitted_at\":\"2026-12-07T13:38:15.526Z\",\"idempot"
	"ency_key\":\"stream_delta:24:cb5aba3a-14f1-4046-bc22-af12a2c8b3e1"
	"\"}";
/* frames3.jsonl:20, device_status cut to five keys */
static const char F_DEVICE[] =
	"{\"type\":\"update_device_status\",\"device_status\":{\"current_co"
	"nnection_id\":\"app-server\",\"is_online\":true,\"is_processing\":"
	"true,\"current_permission_mode\":\"strict\",\"pending_control_requ"
	"ests\":[{\"request_id\":\"perm-call_1\",\"request\":{\"subtype\":"
	"\"can_use_tool\",\"tool_name\":\"Bash\",\"input\":{\"command\":\"e"
	"cho probe-ok\",\"description\":\"probe\"},\"tool_call_id\":\"call_"
	"1\",\"blocked_path\":null}}]},\"runtime\":{\"agent_id\":\"" AG3
	"\",\"conversation_id\":\"default\"},\"event_seq\":17,\"emitted_at"
	"\":\"2026-12-07T13:38:15.511Z\",\"idempotency_key\":\"update_devic"
	"e_status:17:d30e7243-df9b-491c-9f40-e6ddcd921fcd\"}";

/* ---- the harness of this file ---- */

static struct json j;
static struct letta_app_frame f;        /* half a MiB: not on the stack */
static struct letta_reply rep;
static char *cur;                       /* the text f borrows */
static size_t cur_len;

/* Parses s[0..n) from a heap copy of exactly n bytes, so ASan sees any
 * read past the message; the copy lives until the next parse. */
static int parse_n(const char *s, size_t n)
{
	free(cur);
	cur = malloc(n ? n : 1);
	cur_len = n;
	memcpy(cur, s, n);
	return letta_app_frame_parse(&j, cur, n, &f);
}

static int parse(const char *s)
{
	return parse_n(s, strlen(s));
}

#define RT_JSON(ag, conv) \
	"\"runtime\":{\"agent_id\":\"" ag "\",\"conversation_id\":\"" conv "\"}"
#define RT1 RT_JSON(AG1, "local-conv-1")

/* ---- commands ---- */

static char buf[1024];
#define B buf, sizeof buf
#define INVAL(call) CHECK_EQ((call), ERR_INVAL)

#define CHECK_W(call, want) do { \
	int n_ = (call); \
	CHECK_STR(buf, want); \
	CHECK_EQ(n_, (int)strlen(want)); \
} while (0)

static const struct letta_app_runtime rt1 = { AG1, "local-conv-1" };

static void test_writers(void)
{
	const struct letta_app_runtime def = { AG1, "default" };

	CHECK_W(letta_app_server_info(B, "r1"),
	        "{\"type\":\"app_server_info\",\"request_id\":\"r1\"}");
	CHECK_W(letta_app_agent_list(B, "r2", 20, NULL),
	        "{\"type\":\"agent_list\",\"request_id\":\"r2\",\"query\":"
	        "{\"limit\":20}}");
	CHECK_W(letta_app_agent_list(B, "r2", 20, AG2),
	        "{\"type\":\"agent_list\",\"request_id\":\"r2\",\"query\":"
	        "{\"limit\":20,\"after\":\"" AG2 "\"}}");
	CHECK_W(letta_app_runtime_start(B, "r7", &def, "strict", "0.1"),
	        "{\"type\":\"runtime_start\",\"request_id\":\"r7\",\"agent_id\":"
	        "\"" AG1 "\",\"conversation_id\":\"default\",\"mode\":\"strict\","
	        "\"client_info\":{\"name\":\"lettamx\",\"version\":\"0.1\"},"
	        "\"wait_for_replay\":true}");
	CHECK_W(letta_app_input_message(B, "r8", &rt1,
	                                "[Ann] hi \"you\"\n", 15, "cm-1"),
	        "{\"type\":\"input\",\"request_id\":\"r8\"," RT1 ",\"payload\":"
	        "{\"kind\":\"create_message\",\"messages\":[{\"role\":\"user\","
	        "\"content\":\"[Ann] hi \\\"you\\\"\\n\",\"client_message_id\":"
	        "\"cm-1\"}]}}");
	CHECK_W(letta_app_input_approval(B, "r9", &rt1, "perm-call_1", 1, NULL),
	        "{\"type\":\"input\",\"request_id\":\"r9\"," RT1 ",\"payload\":"
	        "{\"kind\":\"approval_response\",\"request_id\":\"perm-call_1\","
	        "\"decision\":{\"behavior\":\"allow\"}}}");
	CHECK_W(letta_app_input_approval(B, "r10", &rt1,
	                                 "perm-call_1", 0, "not allowed"),
	        "{\"type\":\"input\",\"request_id\":\"r10\"," RT1 ",\"payload\":"
	        "{\"kind\":\"approval_response\",\"request_id\":\"perm-call_1\","
	        "\"decision\":{\"behavior\":\"deny\",\"message\":\"not allowed\"}"
	        "}}");
	CHECK_W(letta_app_abort(B, "r11", &rt1),
	        "{\"type\":\"abort_message\",\"request_id\":\"r11\"," RT1
	        ",\"run_id\":null}");
	CHECK_W(letta_app_sync(B, "r12", &rt1),
	        "{\"type\":\"sync\",\"request_id\":\"r12\"," RT1 "}");
	CHECK_W(letta_app_messages_list(B, "r15", &def, 50, "ui-msg-7"),
	        "{\"type\":\"conversation_messages_list\",\"request_id\":\"r15\","
	        "\"conversation_id\":\"default\",\"query\":{\"agent_id\":\"" AG1
	        "\",\"limit\":50,\"order\":\"desc\",\"before\":\"ui-msg-7\"}}");
	CHECK_W(letta_app_messages_list(B, "r16", &rt1, 1, ""),
	        "{\"type\":\"conversation_messages_list\",\"request_id\":\"r16\","
	        "\"conversation_id\":\"local-conv-1\",\"query\":{\"agent_id\":\""
	        AG1 "\",\"limit\":1,\"order\":\"desc\"}}");
	/* an allow may say why; an empty message is none */
	CHECK(letta_app_input_approval(B, "r", &rt1, "perm-c", 1, "ok then") > 0);
	CHECK(strstr(buf, "{\"behavior\":\"allow\",\"message\":\"ok then\"}"));
	CHECK(letta_app_input_approval(B, "r", &rt1, "perm-c", 1, "") > 0);
	CHECK(!strstr(buf, "message"));
}


static void test_writer_errors(void)
{
	const struct letta_app_runtime bad = { "agent-x", "default" };
	const struct letta_app_runtime noc = { AG1, "" }, spc = { AG1, "a b" };
	const struct letta_app_runtime nullc = { AG1, NULL };
	const char *ids[] = { NULL, "", "r 1", "r\x01", "\xc3\xa9" };
	char big[LIM_LETTA_APP_ID + 1];
	int n;

	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
		INVAL(letta_app_server_info(B, ids[i]));
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	INVAL(letta_app_server_info(B, big));
	big[sizeof big - 2] = '\0';     /* LIM_LETTA_APP_ID - 1: fits */
	CHECK(letta_app_server_info(B, big) > 0);
	INVAL(letta_app_server_info(NULL, 10, "r1"));
	INVAL(letta_app_agent_list(B, "r", 0, NULL));
	INVAL(letta_app_agent_list(B, "r", LIM_LETTA_APP_LIMIT + 1, NULL));
	INVAL(letta_app_agent_list(B, "r", 5, "agent-1"));
	INVAL(letta_app_runtime_start(B, "r", &bad, "strict", "1"));
	INVAL(letta_app_runtime_start(B, "r", NULL, "strict", "1"));
	INVAL(letta_app_runtime_start(B, "r", &rt1, NULL, "1"));
	/* an unknown mode might run tools unasked, as a missing one does */
	INVAL(letta_app_runtime_start(B, "r", &rt1, "Strict", "1"));
	INVAL(letta_app_runtime_start(B, "r", &rt1, "strict", NULL));
	INVAL(letta_app_sync(B, "r", &noc));
	INVAL(letta_app_sync(B, "r", &spc));
	INVAL(letta_app_sync(B, "r", &nullc));
	INVAL(letta_app_abort(B, "r", &bad));
	INVAL(letta_app_input_message(B, "r", &rt1, "", 0, "cm-1"));
	INVAL(letta_app_input_message(B, "r", &rt1, "hi", 2, "cm 1"));
	CHECK_EQ(letta_app_input_message(B, "r", &rt1, "a\xff", 2, "cm-1"),
	         ERR_UTF8);
	/* a deny must say why (the server refuses one that does not) */
	INVAL(letta_app_input_approval(B, "r", &rt1, "perm-c", 0, NULL));
	INVAL(letta_app_input_approval(B, "r", &rt1, "perm-c", 0, ""));
	INVAL(letta_app_input_approval(B, "r", &rt1, "", 1, NULL));
	INVAL(letta_app_messages_list(B, "r", &rt1, 0, NULL));
	INVAL(letta_app_messages_list(B, "r", &rt1, 5, "a b"));
	/* the buffer: too small by one (the NUL), then just right */
	n = letta_app_sync(B, "r12", &rt1);
	CHECK(n > 0);
	CHECK_EQ(letta_app_sync(buf, (size_t)n, "r12", &rt1), ERR_TOOBIG);
	CHECK_EQ(letta_app_sync(buf, (size_t)n + 1, "r12", &rt1), n);
	CHECK_EQ(letta_app_server_info(buf, 0, "r1"), ERR_TOOBIG);
	/* control characters and quotes are escaped, not refused */
	CHECK(letta_app_input_message(B, "r", &rt1, "\x01\"", 2, "cm-1") > 0);
	CHECK(strstr(buf, "\"content\":\"\\u0001\\\"\"") != NULL);
}

/* ---- server messages, as recorded ---- */

static void test_info_agents(void)
{
	struct letta_agent a;
	int e;

	CHECK_EQ(parse(F_INFO), 0);
	CHECK_EQ(f.type, LETTA_APP_F_INFO);
	CHECK_STR(f.request_id, "r1");
	CHECK_EQ(f.success, 1);
	CHECK_STR(f.version, "0.32.18");
	CHECK_EQ(f.protocol_version, 1);
	CHECK_EQ(f.has_runtime, 0);
	CHECK_EQ(parse(F_AGENTS), 0);
	CHECK_EQ(f.type, LETTA_APP_F_AGENTS);
	CHECK_STR(f.request_id, "q1");
	CHECK_EQ(json_count(&j, f.agents), 1);
	/* the App Server's AgentState reads as the REST server's does */
	e = json_arr_first(&j, f.agents);
	CHECK_EQ(letta_agent_parse(&j, e, &a), 0);
	CHECK_STR(a.id, AG2);
	CHECK_STR(a.name, "matrix-probe-renamed");
	CHECK_STR(a.desc, "");
	CHECK_EQ(a.ntags, 2);
	CHECK_STR(a.tags, "git-memory-enabled");
	CHECK_STR(a.tags + strlen(a.tags) + 1, "origin:letta-code");
	CHECK_EQ(a.sleeptime, 0);
	CHECK_EQ(letta_agent_wanted(&a, NULL, NULL), 1);
	CHECK_EQ(parse(F_AGENTS_NONE), 0);
	CHECK(f.agents >= 0);
	CHECK_EQ(json_count(&j, f.agents), 0);
	/* built from AgentListResponseMessage: a failure, and a success
	 * without its array (which must never read as "no agents") */
	CHECK_EQ(parse("{\"type\":\"agent_list_response\",\"request_id\":\"r2\","
	               "\"success\":false,\"agents\":[],\"error\":\"boom\"}"), 0);
	CHECK_EQ(f.success, 0);
	CHECK_STR(f.error, "boom");
	CHECK_EQ(parse("{\"type\":\"agent_list_response\",\"request_id\":\"r2\","
	               "\"success\":true}"), ERR_PROTO);
	CHECK_EQ(parse("{\"type\":\"agent_list_response\",\"request_id\":\"r2\","
	               "\"success\":true,\"agents\":null}"), ERR_PROTO);
	CHECK_EQ(f.type, LETTA_APP_F_OTHER);
	CHECK_STR(f.request_id, "");
}

static void test_runtime_input(void)
{
	CHECK_EQ(parse(F_RUNTIME), 0);
	CHECK_EQ(f.type, LETTA_APP_F_RUNTIME);
	CHECK_STR(f.request_id, "q2");
	CHECK_EQ(f.success, 1);
	CHECK_EQ(f.has_runtime, 1);
	CHECK_STR(f.agent_id, AG2);
	CHECK_STR(f.conversation_id, "default");
	CHECK_STR(f.error, "");
	/* built from RuntimeStartResponseMessage */
	CHECK_EQ(parse("{\"type\":\"runtime_start_response\",\"request_id\":"
	               "\"r7\",\"success\":false,\"runtime\":null,\"agent\":null,"
	               "\"conversation\":null,\"created\":{\"agent\":false,"
	               "\"conversation\":false},\"error\":\"Agent not found\"}"),
	         0);
	CHECK_EQ(f.success, 0);
	CHECK_EQ(f.has_runtime, 0);
	CHECK_STR(f.error, "Agent not found");
	CHECK_EQ(parse(F_ACCEPTED), 0);
	CHECK_EQ(f.type, LETTA_APP_F_ACCEPTED);
	CHECK_STR(f.request_id, "r8");
	CHECK_EQ(f.accepted, 1);
	CHECK_EQ(f.disposition, LETTA_APP_DISP_STARTED);
	CHECK_STR(f.agent_id, AG1);
	CHECK_STR(f.conversation_id, "local-conv-1");
	/* the protocol notes' refusal of a stale approval; a queued input */
	CHECK_EQ(parse("{\"type\":\"input_accepted\",\"request_id\":\"r9\","
	               RT1 ",\"accepted\":false,\"error\":\"Approval request "
	               "is no longer pending\"}"), 0);
	CHECK_EQ(f.accepted, 0);
	CHECK_EQ(f.disposition, LETTA_APP_DISP_NONE);
	CHECK_STR(f.error, "Approval request is no longer pending");
	CHECK_EQ(parse("{\"type\":\"input_accepted\",\"request_id\":\"r9\","
	               RT1 ",\"accepted\":true,\"disposition\":\"queued\"}"), 0);
	CHECK_EQ(f.disposition, LETTA_APP_DISP_QUEUED);
}

/* The turn of frames.jsonl: three chunks of one message, then the
 * stop, the loop idle again, turn_finished. */
static void test_turn(void)
{
	static const char *const chunks[] = { F_DELTA_1, F_DELTA_2, F_DELTA_3 };
	char msg[128] = "";
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		CHECK_EQ(parse(chunks[i]), 0);
		CHECK_EQ(f.type, LETTA_APP_F_DELTA);
		CHECK_EQ(f.dkind, LETTA_APP_D_ASSISTANT);
		CHECK_STR(f.delta_id, "ui-msg-2");
		CHECK_STR(f.run_id, "local-run-1");
		CHECK_EQ(f.seq_id, i + 1);
		CHECK_STR(f.request_id, "");
		CHECK_STR(f.agent_id, AG1);
		CHECK_EQ(f.text_cut, 0);
		CHECK_EQ(f.subagent, 0);
		CHECK_EQ(f.text_len, strlen(f.text));
		memcpy(msg + n, f.text, f.text_len + 1);
		n += f.text_len;
	}
	CHECK_STR(msg, "Hello from the dummy model.");
	CHECK_EQ(parse(F_USAGE), 0);
	CHECK_EQ(f.type, LETTA_APP_F_DELTA);
	CHECK_EQ(f.dkind, LETTA_APP_D_OTHER);
	CHECK_EQ(parse(F_STOP), 0);
	CHECK_EQ(f.dkind, LETTA_APP_D_STOP);
	CHECK_STR(f.stop, "end_turn");
	CHECK_EQ(f.stop_code, LETTA_STOP_END_TURN);
	CHECK_EQ(f.waiting, 0);
	CHECK_STR(f.delta_id, "");
	CHECK_EQ(f.seq_id, 5);
	CHECK_EQ(parse(F_TURN), 0);
	CHECK_EQ(f.type, LETTA_APP_F_TURN);
	CHECK_STR(f.turn_id, "batch-direct-b42db645-935b-4585-b139-5ab7c4a9522a");
	CHECK_STR(f.stop, "end_turn");
	CHECK_STR(f.run_id, "local-run-1");
	CHECK_STR(f.error, "");
	CHECK_STR(f.conversation_id, "local-conv-1");
	/* built from TurnFinishedMessage: a failed turn says why */
	CHECK_EQ(parse("{\"type\":\"turn_finished\",\"turn_id\":\"batch-direct-"
	               "x\",\"stop_reason\":\"error\",\"run_id\":\"local-run-3\","
	               "\"error\":\"Image could not be read\"," RT1 "}"), 0);
	CHECK_EQ(f.stop_code, LETTA_STOP_ERROR);
	CHECK_STR(f.error, "Image could not be read");
	/* a subagent's stream is marked (subagent_id, StreamDeltaMessage) */
	CHECK_EQ(parse("{\"type\":\"stream_delta\",\"subagent_id\":\"sa-1\","
	               "\"delta\":{\"message_type\":\"assistant_message\","
	               "\"content\":\"x\"}}"), 0);
	CHECK_EQ(f.subagent, 1);
	CHECK_STR(f.text, "x");
}

static void test_loop_status(void)
{
	int ids;

	CHECK_EQ(parse(F_LOOP_IDLE), 0);
	CHECK_EQ(f.type, LETTA_APP_F_LOOP);
	CHECK_STR(f.status, "WAITING_ON_INPUT");
	CHECK_EQ(f.idle, 1);
	CHECK_EQ(f.active_runs, 0);
	CHECK_EQ(f.cmids_by_run, -1);
	CHECK_EQ(parse(F_LOOP_RUN), 0);
	CHECK_STR(f.status, "PROCESSING_API_RESPONSE");
	CHECK_EQ(f.idle, 0);
	CHECK_EQ(f.active_runs, 1);
	ids = json_get(&j, f.cmids_by_run, "local-run-1");
	CHECK_EQ(json_count(&j, ids), 1);
	CHECK(json_str_eq(&j, json_arr_first(&j, ids), "cm-1"));
	CHECK_EQ(parse(F_LOOP_DONE), 0);
	CHECK_EQ(f.idle, 1);
	CHECK(f.cmids_by_run >= 0);
	CHECK_EQ(parse(F_LOOP_APPROVAL), 0);
	CHECK_STR(f.status, "WAITING_ON_APPROVAL");
	CHECK_EQ(f.idle, 0);
	CHECK_STR(f.agent_id, AG3);
}

/* frames3.jsonl: a tool asks in strict mode. */
static void test_approval(void)
{
	static const char args[] = "{\"command\":\"echo probe-ok\","
	                            "\"description\":\"probe\"}";

	CHECK_EQ(parse(F_APPROVAL), 0);
	CHECK_EQ(f.dkind, LETTA_APP_D_APPROVAL);
	CHECK_STR(f.tool, "Bash");
	CHECK_STR(f.call_id, "call_1");
	CHECK_STR(f.text, args);
	CHECK_STR(f.run_id, "local-run-6");
	CHECK_EQ(parse(F_STOP_WAIT), 0);
	CHECK_EQ(f.dkind, LETTA_APP_D_STOP);
	CHECK_EQ(f.stop_code, LETTA_STOP_REQUIRES_APPROVAL);
	CHECK_EQ(f.waiting, 1);
	CHECK_EQ(parse(F_CLASSIFY), 0);
	CHECK_EQ(f.dkind, LETTA_APP_D_OTHER);
	CHECK_EQ(parse(F_CONTROL), 0);
	CHECK_EQ(f.type, LETTA_APP_F_CONTROL);
	CHECK_STR(f.request_id, "perm-call_1");
	CHECK_STR(f.tool, "Bash");
	CHECK_STR(f.call_id, "call_1");
	CHECK_MEM(f.input, f.input_len, args);
	CHECK_EQ(f.input_cut, 0);
	CHECK(f.input > cur && f.input + f.input_len < cur + strlen(F_CONTROL));
	CHECK_STR(f.agent_id, AG3);
	CHECK_STR(f.conversation_id, "default");
	/* the answer goes back under that id */
	CHECK(letta_app_input_approval(buf, sizeof buf, "r9", &rt1,
	                               f.request_id, 0, "denied by probe") > 0);
	CHECK_EQ(parse(F_TOOL_RETURN), 0);
	CHECK_EQ(f.dkind, LETTA_APP_D_OTHER);
	/* another subtype is not ours to answer */
	CHECK_EQ(parse("{\"type\":\"control_request\",\"request_id\":\"x\","
	               "\"request\":{\"subtype\":\"other\"}}"), 0);
	CHECK_EQ(f.type, LETTA_APP_F_OTHER);
	CHECK_STR(f.input, "");
}

static void test_errors_abort_sync(void)
{
	/* the recorded loop_error, then two built from LoopErrorMessage and
	 * the Letta stream's error_message (detail when no message) */
	static const struct {
		const char *msg, *error;
		int terminal;
		enum letta_stop stop;
	} errs[] = {
		{ F_LOOP_ERROR, "Protocol violation: input.kind=approval_response"
		  " requires payload.request_id and either payload.decision or "
		  "payload.error", 0, LETTA_STOP_ERROR },
		{ "{\"type\":\"stream_delta\",\"delta\":{\"message_type\":"
		  "\"loop_error\",\"message\":\"gave up\",\"stop_reason\":"
		  "\"llm_api_error\",\"is_terminal\":true}}", "gave up", 1,
		  LETTA_STOP_LLM_API_ERROR },
		{ "{\"type\":\"stream_delta\",\"delta\":{\"message_type\":"
		  "\"error_message\",\"error_type\":\"llm_error\",\"detail\":"
		  "\"upstream failed\",\"run_id\":\"local-run-2\"}," RT1 "}",
		  "upstream failed", 0, LETTA_STOP_UNKNOWN },
	};

	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		CHECK_EQ(parse(errs[i].msg), 0);
		CHECK_EQ(f.dkind, LETTA_APP_D_ERROR);
		CHECK_STR(f.error, errs[i].error);
		CHECK_EQ(f.is_terminal, errs[i].terminal);
		CHECK_EQ(f.stop_code, errs[i].stop);
	}
	/* built from the Letta stream's tool_call_message */
	CHECK_EQ(parse("{\"type\":\"stream_delta\",\"delta\":{\"id\":\"letta-msg"
	               "-3\",\"message_type\":\"tool_call_message\",\"tool_calls\""
	               ":[{\"tool_call_id\":\"call_9\",\"name\":\"Read\","
	               "\"arguments\":{\"path\":\"/x\"}}],\"run_id\":\"local-run-2"
	               "\",\"seq_id\":2,\"type\":\"message\"}," RT1 "}"), 0);
	CHECK_EQ(f.dkind, LETTA_APP_D_TOOL_CALL);
	CHECK_STR(f.tool, "Read");
	CHECK_STR(f.call_id, "call_9");
	CHECK_STR(f.text, "{\"path\":\"/x\"}");
	CHECK_EQ(parse(F_ABORT), 0);
	CHECK_EQ(f.type, LETTA_APP_F_ABORT);
	CHECK_STR(f.request_id, "r10");
	CHECK_EQ(f.aborted, 0);
	CHECK_EQ(f.success, 1);
	/* no sync_response was recorded: SyncResponseMessage */
	CHECK_EQ(parse("{\"type\":\"sync_response\",\"request_id\":\"r12\","
	               RT1 ",\"success\":true}"), 0);
	CHECK_EQ(f.type, LETTA_APP_F_SYNC);
	CHECK_STR(f.request_id, "r12");
	CHECK_EQ(f.success, 1);
}

static void test_other(void)
{
	static const char *const others[] = {
		F_QUEUE, F_DEVICE, "{\"type\":\"pong\"}",
		"{\"type\":\"brand_new_thing\",\"request_id\":\"z\"}",
	};

	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		CHECK_EQ(parse(others[i]), 0);
		CHECK_EQ(f.type, LETTA_APP_F_OTHER);
	}
	CHECK_STR(f.request_id, "z");
	CHECK_EQ(parse(F_DEVICE), 0);
	CHECK_STR(f.agent_id, AG3);
}

static void test_messages_frame(void)
{
	CHECK_EQ(parse(F_HIST), 0);
	CHECK_EQ(f.type, LETTA_APP_F_MESSAGES);
	CHECK_STR(f.request_id, "r9");
	CHECK_EQ(f.success, 1);
	CHECK_EQ(json_count(&j, f.messages), 2);
	CHECK_STR(f.next_before, "ui-msg-1");
	CHECK_EQ(f.has_more, 0);
	CHECK_EQ(parse("{\"type\":\"conversation_messages_list_response\","
	               "\"request_id\":\"r9\",\"success\":true,\"messages\":{}}"),
	         ERR_PROTO);
	CHECK_EQ(parse("{\"type\":\"conversation_messages_list_response\","
	               "\"request_id\":\"r9\",\"success\":false,\"messages\":[],"
	               "\"next_before\":null,\"has_more\":false,\"error\":"
	               "\"Conversation not found\"}"), 0);
	CHECK_EQ(f.success, 0);
	CHECK_STR(f.next_before, "");
	CHECK_STR(f.error, "Conversation not found");
}

static void test_malformed(void)
{
	static const char *const bad[] = {
		"", "not json", "[1,2]", "{}", "{\"type\":5}", "{\"type\":null}",
		"{\"type\":[\"stream_delta\"]}", "\"stream_delta\"", "{\"type\":",
		"{\"type\":\"sync_response\"} x", "{\"type\":\"x\",}",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(parse(bad[i]) < 0);
		CHECK_EQ(f.type, LETTA_APP_F_OTHER);
	}
	CHECK_EQ(parse("{\"type\":\"stream_delta\"}"), 0);
	CHECK_EQ(parse("{\"type\":5}"), ERR_PROTO);
	CHECK_EQ(parse("{\"type\":\"stream_delta\",\"x\":\"\xc3\"}"), ERR_UTF8);
	/* known types with fields of other types read as absent */
	CHECK_EQ(parse("{\"type\":\"stream_delta\",\"delta\":\"x\"}"), 0);
	CHECK_EQ(f.dkind, LETTA_APP_D_OTHER);
	CHECK_EQ(parse("{\"type\":\"stream_delta\",\"delta\":{\"message_type\":"
	               "\"assistant_message\",\"content\":5,\"seq_id\":-3}}"), 0);
	CHECK_EQ(f.dkind, LETTA_APP_D_ASSISTANT);
	CHECK_STR(f.text, "");
	CHECK_EQ(f.seq_id, -1);
	CHECK_EQ(parse("{\"type\":\"update_loop_status\",\"loop_status\":[]}"),
	         0);
	CHECK_EQ(f.idle, 0);
	CHECK_EQ(parse("{\"type\":\"turn_finished\",\"runtime\":{\"agent_id\":"
	               "null,\"conversation_id\":\"default\"},\"success\":\"yes\""
	               "}"), 0);
	CHECK_EQ(f.has_runtime, 1);
	CHECK_STR(f.agent_id, "");
	CHECK_EQ(f.success, 0);
	/* every cut-short frame is refused, never read past */
	for (size_t n = 0; n < sizeof F_CONTROL - 1; n++)
		CHECK(parse_n(F_CONTROL, n) < 0 && parse_n(F_HIST, n) < 0);
}

/* ---- caps ---- */

/* "{…prefix…" + n copies of unit + "…suffix…}" on the heap. */
static char *build(const char *pre, const char *unit, size_t n,
                   const char *post, size_t *len)
{
	size_t a = strlen(pre), u = strlen(unit), b = strlen(post);
	char *s = malloc(a + u * n + b + 1);

	memcpy(s, pre, a);
	for (size_t i = 0; i < n; i++)
		memcpy(s + a + i * u, unit, u);
	memcpy(s + a + u * n, post, b + 1);
	*len = a + u * n + b;
	return s;
}

/* Parses pre + k copies of unit + post. */
static int parse_rep(const char *pre, const char *unit, size_t k,
                     const char *post)
{
	size_t n;
	char *s = build(pre, unit, k, post, &n);
	int r = parse_n(s, n);

	free(s);
	return r;
}

static void test_bounds(void)
{
	/* a 1 MB delta: cut at a whole character, saying so */
	CHECK_EQ(parse_rep("{\"type\":\"stream_delta\",\"delta\":{\"id\":"
	                   "\"ui-msg-9\",\"message_type\":\"assistant_message\","
	                   "\"content\":[{\"type\":\"text\",\"text\":\"",
	                   "\xc3\xa9", 512 * 1024, "\"},{\"type\":\"text\","
	                   "\"text\":\"more\"}]}}"), 0);
	CHECK_EQ(f.text_cut, 1);
	CHECK_INT(f.text_len, <=, LIM_LETTA_APP_TEXT);
	CHECK_INT(f.text_len, >=, LIM_LETTA_APP_TEXT - 1);
	CHECK_EQ(f.text_len % 2, 0);
	CHECK_EQ(strlen(f.text), f.text_len);
	CHECK(json_utf8_valid(f.text, f.text_len));
	CHECK_STR(f.delta_id, "ui-msg-9");
	/* a tool input over the cap: cut at a character, still in the text */
	CHECK_EQ(parse_rep("{\"type\":\"control_request\",\"request_id\":"
	                   "\"perm-c\",\"request\":{\"subtype\":\"can_use_tool"
	                   "\",\"tool_name\":\"Write\",\"input\":{\"content\":"
	                   "\"", "\xe2\x82\xac", LIM_LETTA_APP_INPUT / 3 + 10,
	                   "\"},\"tool_call_id\":\"c\"}}"), 0);
	CHECK_EQ(f.type, LETTA_APP_F_CONTROL);
	CHECK_EQ(f.input_cut, 1);
	CHECK_INT(f.input_len, <=, LIM_LETTA_APP_INPUT);
	CHECK_INT(f.input_len, >, LIM_LETTA_APP_INPUT - 4);
	CHECK(json_utf8_valid(f.input, f.input_len));
	CHECK(!strncmp(f.input, "{\"content\":\"", 12));
	CHECK(f.input > cur && f.input + f.input_len <= cur + cur_len);
	CHECK_STR(f.call_id, "c");
	/* an id too long is refused whole (a cut one would name another);
	 * display text is cut at a character */
	CHECK_EQ(parse_rep("{\"type\":\"sync_response\",\"request_id\":\"",
	                   "r", LIM_LETTA_APP_ID, "\"}"), 0);
	CHECK_STR(f.request_id, "");
	CHECK_EQ(parse_rep("{\"type\":\"turn_finished\",\"stop_reason\":\"",
	                   "x", sizeof f.stop, "\"}"), 0);
	CHECK_STR(f.stop, "");
	CHECK_EQ(f.stop_code, LETTA_STOP_UNKNOWN);
	CHECK_EQ(parse_rep("{\"type\":\"stream_delta\",\"delta\":{"
	                   "\"message_type\":\"loop_error\",\"message\":\"",
	                   "\xe2\x82\xac", 1000, "\"}}"), 0);
	CHECK_INT(strlen(f.error), <, LIM_LETTA_APP_ERROR);
	CHECK_INT(strlen(f.error), >, LIM_LETTA_APP_ERROR - 4);
	CHECK(json_utf8_valid(f.error, strlen(f.error)));
	/* ids: spaces, escapes that make a NUL, a malformed agent id */
	CHECK_EQ(parse("{\"type\":\"sync_response\",\"request_id\":\"r 1\","
	               "\"runtime\":{\"agent_id\":\"agent-x\",\"conversation_id\":"
	               "\"c\\u0000\"}}"), 0);
	CHECK_STR(f.request_id, "");
	CHECK_STR(f.agent_id, "");
	CHECK_STR(f.conversation_id, "");
	CHECK_EQ(parse("{\"type\":\"sync_response\",\"request_id\":\"r\\u0031\"}"),
	         0);
	CHECK_STR(f.request_id, "r1");
	/* a text part holding a NUL is left out, the others kept */
	CHECK_EQ(parse("{\"type\":\"stream_delta\",\"delta\":{\"message_type\":"
	               "\"assistant_message\",\"content\":[{\"type\":\"text\","
	               "\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\\u0000c\"},"
	               "{\"type\":\"image\",\"text\":\"x\"},{\"type\":\"text\","
	               "\"text\":\"d\\u00e9\"}]}}"), 0);
	CHECK_STR(f.text, "ad\xc3\xa9");
	CHECK_EQ(f.text_len, 4);
}

/* ---- the history ---- */

/* History messages as the local backend projects them (letta.js,
 * local-message-projection.ts; the user and assistant shapes as in
 * frames.jsonl:27). */
#define USER(otid) "{\"id\":\"ui-msg-1\",\"message_type\":\"user_message\"," \
	"\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q\"}]," \
	"\"otid\":\"" otid "\"}"
#define SAID(text) "{\"id\":\"ui-msg-2\",\"message_type\":" \
	"\"assistant_message\",\"role\":\"assistant\",\"content\":[{\"type\":" \
	"\"text\",\"text\":\"" text "\"}]}"
#define ASK "{\"id\":\"letta-msg-19:tool:call_1:request\",\"message_type\":" \
	"\"approval_request_message\",\"tool_call\":{\"tool_call_id\":" \
	"\"call_1\",\"name\":\"Bash\",\"arguments\":\"{\\\"command\\\":" \
	"\\\"echo probe-ok\\\"}\"}}"
#define RET "{\"id\":\"ui-msg-4\",\"message_type\":\"tool_return_message\"," \
	"\"tool_call_id\":\"call_1\",\"status\":\"error\",\"tool_return\":" \
	"\"denied by probe\"}"
#define THINK "{\"id\":\"ui-msg-3:reasoning:0\",\"message_type\":" \
	"\"reasoning_message\",\"reasoning\":\"hm\"}"

/* letta_app_hist_find over a response holding msgs (a JSON array). */
static int hist(const char *msgs, const char *cmid, int *batched)
{
	if (parse_rep("{\"type\":\"conversation_messages_list_response\","
	              "\"request_id\":\"r9\",\"success\":true,\"messages\":",
	              msgs, 1, ",\"next_before\":\"ui-msg-1\",\"has_more\":"
	              "false}") || f.messages < 0)
		return -100;
	return letta_app_hist_find(&j, f.messages, cmid, &rep, batched);
}

static void test_history(void)
{
	int b = -1;

	/* frames.jsonl:27, the turn of frames.jsonl */
	CHECK_EQ(parse(F_HIST), 0);
	CHECK_EQ(letta_app_hist_find(&j, f.messages, "cm-1", &rep, &b),
	         LETTA_APP_TURN_COMPLETE);
	CHECK_STR(rep.text, "Hello from the dummy model.");
	CHECK_EQ(rep.n, 1);
	CHECK_EQ(rep.later, 1);
	CHECK_EQ(rep.approval, 0);
	CHECK_EQ(b, 0);
	CHECK_EQ(letta_app_hist_find(&j, f.messages, "cm-2", &rep, NULL),
	         LETTA_APP_TURN_ABSENT);
	CHECK_EQ(letta_app_hist_find(&j, f.messages, "", &rep, NULL),
	         LETTA_APP_TURN_ABSENT);
	CHECK_EQ(letta_app_hist_find(&j, 0, "cm-1", &rep, NULL), ERR_PROTO);
	CHECK_EQ(letta_app_hist_find(&j, -1, "cm-1", &rep, NULL), ERR_PROTO);
	/* cut off: nothing after the question, a thought only, or a tool's
	 * result with no word after it */
	CHECK_EQ(hist("[" USER("cm-2") "," SAID("old") "," USER("cm-1") "]",
	              "cm-2", NULL), LETTA_APP_TURN_CUT);
	CHECK_EQ(rep.later, 0);
	CHECK_EQ(hist("[" THINK "," USER("cm-2") "]", "cm-2", NULL),
	         LETTA_APP_TURN_CUT);
	CHECK_EQ(hist("[" RET "," ASK "," SAID("Let me look.") "," USER("cm-2")
	              "]", "cm-2", NULL), LETTA_APP_TURN_CUT);
	CHECK_STR(rep.text, "Let me look.");
	CHECK_EQ(rep.approval, 0);
	CHECK_EQ(rep.later, 3);
	/* waiting on an approval: the newest tool call without a result */
	CHECK_EQ(hist("[" ASK "," SAID("Let me look.") "," USER("cm-3") "]",
	              "cm-3", NULL), LETTA_APP_TURN_WAITING);
	CHECK_EQ(rep.approval, 1);
	CHECK_STR(rep.tool, "Bash");
	CHECK_STR(rep.call_id, "call_1");
	CHECK_STR(rep.args, "{\"command\":\"echo probe-ok\"}");
	CHECK_STR(rep.text, "Let me look.");
	/* answered (denied), then the agent's word: complete */
	CHECK_EQ(hist("[" SAID("Denied, so no.") "," THINK "," RET "," ASK ","
	              USER("cm-3") "]", "cm-3", NULL), LETTA_APP_TURN_COMPLETE);
	CHECK_STR(rep.text, "Denied, so no.");
	CHECK_EQ(rep.approval, 0);
	/* an approval lost with its connection, closed by the next input
	 * (protocol notes 6.5: an error result, an empty question) */
	CHECK_EQ(hist("[" USER("cm-2") "," USER("0198f3c2-5d1e-7a40-9b61-2c8e"
	              "4f7a1d03") "," RET "," ASK "," USER("cm-1") "]", "cm-1",
	              &b), LETTA_APP_TURN_CUT);
	CHECK_EQ(b, 0);
	CHECK_EQ(rep.approval, 0);
	/* the turn ends at the next question */
	CHECK_EQ(hist("[" SAID("second") "," USER("cm-2") "," SAID("first") ","
	              USER("cm-1") "]", "cm-1", &b), LETTA_APP_TURN_COMPLETE);
	CHECK_STR(rep.text, "first");
	CHECK_EQ(b, 0);
	/* questions queued together share one answer */
	CHECK_EQ(hist("[" SAID("both") "," USER("cm-b") "," USER("cm-a") "]",
	              "cm-a", &b), LETTA_APP_TURN_COMPLETE);
	CHECK_STR(rep.text, "both");
	CHECK_EQ(b, 1);
	CHECK_EQ(hist("[" SAID("both") "," USER("cm-b") "," USER("cm-a") "]",
	              "cm-b", &b), LETTA_APP_TURN_COMPLETE);
	CHECK_EQ(b, 0);
	/* a stop_reason in the history ends the turn, unless it pauses */
	CHECK_EQ(hist("[{\"message_type\":\"stop_reason\",\"stop_reason\":"
	              "\"cancelled\"}," USER("cm-4") "]", "cm-4", NULL),
	         LETTA_APP_TURN_COMPLETE);
	CHECK_STR(rep.stop, "cancelled");
	CHECK_EQ(rep.n, 0);
	CHECK_EQ(hist("[{\"message_type\":\"stop_reason\",\"stop_reason\":"
	              "\"requires_approval\"}," ASK "," USER("cm-4") "]", "cm-4",
	              NULL), LETTA_APP_TURN_WAITING);
	/* several text parts are one message; messages join with a blank */
	CHECK_EQ(hist("[{\"message_type\":\"assistant_message\",\"content\":"
	              "[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\","
	              "\"text\":\"b\"}]}," SAID("c") "," USER("cm-5") "]", "cm-5",
	              NULL), LETTA_APP_TURN_COMPLETE);
	CHECK_STR(rep.text, "c\n\nab");
	/* odd entries are skipped, not trusted */
	CHECK_EQ(hist("[1,\"x\",{\"message_type\":5}," USER("cm-6") "]", "cm-6",
	              NULL), LETTA_APP_TURN_CUT);
	CHECK_EQ(rep.later, 3);
}

/* An answer longer than a reply keeps is cut, saying so. */
static void test_history_big(void)
{
	size_t n;
	char *s = build("[{\"message_type\":\"assistant_message\",\"content\":"
	                "[{\"type\":\"text\",\"text\":\"", "ab",
	                LIM_BRIDGE_ANSWER / 2 + 100, "\"}]}," USER("cm-7") "]",
	                &n);

	CHECK_EQ(hist(s, "cm-7", NULL), LETTA_APP_TURN_COMPLETE);
	CHECK_EQ(rep.cut, 1);
	CHECK_INT(rep.len, <=, LIM_BRIDGE_ANSWER);
	free(s);
}

int main(void)
{
	json_init(&j);
	RUN(test_writers);
	RUN(test_writer_errors);
	RUN(test_info_agents);
	RUN(test_runtime_input);
	RUN(test_turn);
	RUN(test_loop_status);
	RUN(test_approval);
	RUN(test_errors_abort_sync);
	RUN(test_other);
	RUN(test_messages_frame);
	RUN(test_malformed);
	RUN(test_bounds);
	RUN(test_history);
	RUN(test_history_big);
	json_free(&j);
	free(cur);
	return harness_done("letta_app");
}
