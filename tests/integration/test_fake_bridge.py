"""The fake servers' additions for the bridge tests: faults that hit a
seeded share of requests, and raw (non-JSON-encodable) fault bodies."""

import unittest

from fakes import FakeHomeserver, FakeLetta


class ProbabilityFaults(unittest.TestCase):
    def test_a_seeded_share_of_requests_and_the_rest_pass(self):
        with FakeLetta() as letta:
            letta.inject_fault("GET", "^/v1/health/$", count=-1,
                               probability=0.3, seed=5, status=503)
            got = [letta.http("GET", "/v1/health/").status
                   for _ in range(200)]
            hits = got.count(503)
            self.assertTrue(40 <= hits <= 80, hits)
            self.assertEqual(got.count(200) + hits, 200)
            first = got
            letta.clear_faults()
            letta.inject_fault("GET", "^/v1/health/$", count=-1,
                               probability=0.3, seed=5, status=503)
            again = [letta.http("GET", "/v1/health/").status
                     for _ in range(200)]
            self.assertEqual(first, again)      # reproducible

    def test_bad_probability_is_refused(self):
        with FakeLetta() as letta:
            for p in (0, 1.5, "x"):
                with self.assertRaises(Exception):
                    letta.inject_fault("GET", ".*", probability=p, status=500)

    def test_raw_body(self):
        with FakeHomeserver() as hs:
            hs.inject_fault("GET", "/versions$", status=200,
                            raw_body_hex=b'{"x":"\xff"}'.hex())
            res = hs.http("GET", "/_matrix/client/versions")
            self.assertEqual(res.raw, b'{"x":"\xff"}')
            self.assertEqual(hs.http("GET", "/_matrix/client/versions").status,
                             200)


if __name__ == "__main__":
    unittest.main()


class BusyAgent(unittest.TestCase):
    def test_a_second_send_while_one_runs_is_409(self):
        import threading
        with FakeLetta() as letta:
            a = letta.add_agent("busy", script={"mode": "echo",
                                                "delay_ms": 800,
                                                "busy_409": True})["id"]
            body = {"messages": [{"role": "user", "content": "hi"}]}
            first = {}
            t = threading.Thread(target=lambda: first.update(
                r=letta.http("POST", "/v1/agents/%s/messages" % a, body)))
            t.start()
            import time
            time.sleep(0.3)
            res = letta.http("POST", "/v1/agents/%s/messages" % a, body)
            t.join()
            self.assertEqual(res.status, 409)
            self.assertIn("CONFLICT", res.body["detail"])
            self.assertEqual(first["r"].status, 200)
            self.assertEqual(letta.agent(a)["sends"], 1)
