#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "harness.h"
#include "store/secret.h"

static const char *path_in_tmp(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", harness_tmpdir(), name);
	return buf;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void test_master_created_0600_then_reused(void)
{
	char path[512], why[256];
	struct secret_master a, b;
	struct stat st;
	int created;

	path_in_tmp(path, sizeof path, "master1");
	CHECK_EQ(secret_master_load(&a, path, &created, why, sizeof why), 0);
	CHECK_EQ(created, 1);
	CHECK_EQ(a.len, 64);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_EQ(secret_master_load(&b, path, &created, why, sizeof why), 0);
	CHECK_EQ(created, 0);
	CHECK(a.len == b.len && memcmp(a.key, b.key, a.len) == 0);
	secret_master_reset(&a);
	CHECK_EQ(a.len, 0);
}

static void test_master_refused_when_others_can_read(void)
{
	char path[512], why[256] = "";
	struct secret_master m;
	int created;

	path_in_tmp(path, sizeof path, "master2");
	write_file(path, "0123456789abcdef0123456789abcdef\n", 0644);
	CHECK_EQ(secret_master_load(&m, path, &created, why, sizeof why), ERR_CONFIG);
	CHECK(strstr(why, "chmod 600") != NULL);
}

static void test_master_refused_when_too_short(void)
{
	char path[512], why[256] = "";
	struct secret_master m;
	int created;

	path_in_tmp(path, sizeof path, "master3");
	write_file(path, "short\n", 0600);
	CHECK_EQ(secret_master_load(&m, path, &created, why, sizeof why), ERR_CONFIG);
	CHECK(strstr(why, "32 to") != NULL);
}

static void test_master_missing_dir_is_io_error(void)
{
	char why[256] = "";
	struct secret_master m;
	int created;

	CHECK_EQ(secret_master_load(&m, "/nonexistent-dir/master", &created, why,
	                            sizeof why), ERR_IO);
	CHECK(strstr(why, "/nonexistent-dir/master") != NULL);
}

/* The derivation is pinned: changing it would lock every agent user out. */
static void test_agent_password_is_stable(void)
{
	struct secret_master m = { .len = 64 };
	char pw[64], pw2[64];

	memcpy(m.key, "0123456789abcdef0123456789abcdef"
	              "0123456789abcdef0123456789abcdef", 64);
	CHECK_EQ(secret_agent_password(&m, "agent-6f1c2b9e-0d4a-4c1e-9a57-2f3b8c0d1e2a",
	                               pw, sizeof pw), 0);
	CHECK_STR(pw, "W06ObkD13vGiGBT6sUKqJddhPZPdoR7HO7VPaXSyErs");
	CHECK_EQ(strlen(pw), SECRET_PASSWORD_LEN);
	CHECK_EQ(secret_agent_password(&m, "agent-other", pw2, sizeof pw2), 0);
	CHECK(strcmp(pw, pw2) != 0);
	CHECK_EQ(secret_agent_password(&m, "agent-x", pw2, SECRET_PASSWORD_LEN), ERR_TOOBIG);
	CHECK_EQ(secret_agent_password(&m, "", pw2, sizeof pw2), ERR_INVAL);
}

/* The install id names our Space in its marker: pinned, and another
 * master secret gives another one. */
static void test_install_id_is_stable_and_distinct(void)
{
	struct secret_master m = { .len = 64 }, m2 = { .len = 64 };
	char id[SECRET_INSTALL_ID_LEN + 1], id2[SECRET_INSTALL_ID_LEN + 1];

	memcpy(m.key, "0123456789abcdef0123456789abcdef"
	              "0123456789abcdef0123456789abcdef", 64);
	memcpy(m2.key, m.key, 64);
	m2.key[0] = 'x';
	CHECK_EQ(secret_install_id(&m, id, sizeof id), 0);
	CHECK_EQ(strlen(id), SECRET_INSTALL_ID_LEN);
	CHECK_EQ(strspn(id, "0123456789abcdef"), SECRET_INSTALL_ID_LEN);
	CHECK_EQ(secret_install_id(&m, id2, sizeof id2), 0);
	CHECK_STR(id, id2);
	CHECK_EQ(secret_install_id(&m2, id2, sizeof id2), 0);
	CHECK(strcmp(id, id2) != 0);
	CHECK_EQ(secret_install_id(&m, id2, SECRET_INSTALL_ID_LEN), ERR_TOOBIG);
}

/* Values from Python's hmac module, as Synapse computes them. */
static void test_synapse_mac_matches_reference(void)
{
	char mac[48];

	CHECK_EQ(secret_synapse_mac("s3cr3t-TEST-shared", "abc123", "letta_agent-1",
	                            "pw", 0, mac, sizeof mac), 0);
	CHECK_STR(mac, "210af381b6da0b51d188506e14f8312769927b70");
	CHECK_EQ(secret_synapse_mac("s3cr3t-TEST-shared", "abc123", "admin", "pw", 1,
	                            mac, sizeof mac), 0);
	CHECK_STR(mac, "50335642d5ce4f2f421c0f8c16d64be9ec8d8a87");
	CHECK_EQ(secret_synapse_mac("k", "n", "u", "p", 0, mac, 40), ERR_TOOBIG);
}

static void test_random_differs(void)
{
	uint8_t a[32], b[32];

	CHECK_EQ(secret_random(a, sizeof a), 0);
	CHECK_EQ(secret_random(b, sizeof b), 0);
	CHECK(memcmp(a, b, sizeof a) != 0);
}

int main(void)
{
	RUN(test_master_created_0600_then_reused);
	RUN(test_master_refused_when_others_can_read);
	RUN(test_master_refused_when_too_short);
	RUN(test_master_missing_dir_is_io_error);
	RUN(test_agent_password_is_stable);
	RUN(test_install_id_is_stable_and_distinct);
	RUN(test_synapse_mac_matches_reference);
	RUN(test_random_differs);
	return harness_done("secret");
}
