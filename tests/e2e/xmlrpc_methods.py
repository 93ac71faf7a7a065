# Every XML-RPC method of taskmasterctl-xmlrpc through Python's own
# xmlrpc.client, over TCP with basic auth: results, faults and multicall.
# Run by tests/e2e/xmlrpc.rs: methods.py URL DAEMON_PID BAD_URL
import sys
import time
import xmlrpc.client as x

url, daemon_pid, bad_url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
server = x.ServerProxy(url)
sv = server.supervisor


def fault(code, method, *args):
    try:
        method(*args)
    except x.Fault as e:
        assert e.faultCode == code, (args, e.faultCode, e.faultString)
        return e.faultString
    raise AssertionError("no fault %d for %r" % (code, args))


def wait_state(name, code):
    deadline = time.monotonic() + 10
    while sv.getProcessInfo(name)["state"] != code:
        assert time.monotonic() < deadline, (name, code, sv.getProcessInfo(name))
        time.sleep(0.05)


def wait_log(name, text):
    deadline = time.monotonic() + 10
    while text not in sv.readProcessStdoutLog(name, 0, 0):
        assert time.monotonic() < deadline, (name, text)
        time.sleep(0.05)


# Wrong credentials: HTTP 401, before any method runs.
try:
    x.ServerProxy(bad_url).supervisor.getAPIVersion()
    raise AssertionError("a wrong password was accepted")
except x.ProtocolError as e:
    assert e.errcode == 401, e.errcode

# The daemon.
assert sv.getAPIVersion() == "3.0"
assert sv.getVersion() == "3.0"
assert sv.getIdentification() == "supervisor"
assert sv.getState() == {"statecode": 1, "statename": "RUNNING"}
assert sv.getPID() == daemon_pid, sv.getPID()
assert sv.getSupervisorVersion().count(".") == 2

# Process info, state codes and names.
wait_state("web", 20)
web = sv.getProcessInfo("web")
assert web["name"] == "web" and web["group"] == "web", web
assert web["statename"] == "RUNNING" and web["pid"] > 0, web
assert web["description"].startswith("pid %d, uptime " % web["pid"]), web
assert web["start"] <= web["now"] and web["stop"] == 0, web
infos = {(i["group"], i["name"]): i for i in sv.getAllProcessInfo()}
assert set(infos) == {("web", "web"), ("echo", "echo"), ("idle", "idle"),
                      ("worker", "0"), ("worker", "1"), ("crash", "crash"),
                      ("done", "done")}, infos
assert infos[("idle", "idle")]["state"] == 0
assert infos[("idle", "idle")]["description"] == "Not started"
wait_state("done", 100)
assert sv.getProcessInfo("done")["exitstatus"] == 0
fault(10, sv.getProcessInfo, "nope")
fault(10, sv.getProcessInfo, "worker")
assert sv.getProcessInfo("worker:1")["group"] == "worker"

# start, stop, wait semantics and their faults.
fault(60, sv.startProcess, "web")
fault(70, sv.stopProcess, "idle")
fault(10, sv.startProcess, "nope")
assert sv.startProcess("idle") is True
assert sv.getProcessInfo("idle")["state"] == 20
assert sv.stopProcess("idle") is True
assert sv.getProcessInfo("idle")["state"] == 0
assert sv.startProcess("idle", False) is True
wait_state("idle", 20)
assert sv.stopProcess("idle", False) is True
wait_state("idle", 0)
fault(40, sv.startProcess, "crash")
wait_state("crash", 200)
assert sv.getProcessInfo("crash")["exitstatus"] == 3

# Groups: one result struct per process acted on.
results = sv.stopProcessGroup("worker")
assert sorted((r["group"], r["name"], r["status"]) for r in results) == \
    [("worker", "0", 80), ("worker", "1", 80)], results
assert sv.stopProcessGroup("worker") == []
results = sv.startProcessGroup("worker")
assert [r["status"] for r in results] == [80, 80], results
assert sv.startProcess("worker:*") == []
fault(10, sv.startProcessGroup, "nope")

# Signals.
assert sv.signalProcess("web", "HUP") is True
assert sv.signalProcess("web", 1) is True
fault(11, sv.signalProcess, "web", "NOPE")
fault(70, sv.signalProcess, "idle", "HUP")
results = sv.signalProcessGroup("worker", "USR2")
assert [r["status"] for r in results] == [80, 80], results
results = sv.signalAllProcesses("CONT")
assert {(r["group"], r["name"]) for r in results} == \
    {("web", "web"), ("echo", "echo"), ("worker", "0"), ("worker", "1")}, results

# stdin and logs.
assert sv.sendProcessStdin("echo", "ping\n") is True
wait_log("echo", "stdin=ping\n")
fault(70, sv.sendProcessStdin, "idle", "x")
out = sv.readProcessStdoutLog("web", 0, 0)
assert out.startswith("hello web\n"), out
assert sv.readProcessStdoutLog("web", -4, 0) == out[-4:]
assert sv.readProcessStdoutLog("web", 1, 4) == out[1:5]
assert "oops" in sv.readProcessStderrLog("web", 0, 0)
text, offset, overflow = sv.tailProcessStdoutLog("web", 0, 3)
assert (text, offset, overflow) == (out[-3:], len(out), True), (text, offset, overflow)
assert sv.tailProcessStdoutLog("web", offset, 100) == ["", offset, False]
fault(3, sv.readProcessStdoutLog, "web", -5, 2)
fault(10, sv.readProcessStdoutLog, "nope", 0, 0)
assert sv.clearProcessLogs("web") is True
assert sv.readProcessStdoutLog("web", 0, 0) == ""
results = sv.clearAllProcessLogs()
assert all(r["status"] == 80 for r in results) and len(results) == 7, results
assert "taskmasterd" in sv.readLog(0, 0) or sv.readLog(0, 0) != ""
assert sv.clearLog() is True

# Config.
config = {(c["group"], c["name"]): c for c in sv.getAllConfigInfo()}
assert config[("web", "web")]["inuse"] and config[("web", "web")]["autostart"]
assert not config[("idle", "idle")]["autostart"]
assert ("worker", "1") in config
assert sv.reloadConfig() == [[[], [], []]]
fault(90, sv.addProcessGroup, "web")
fault(10, sv.addProcessGroup, "nope")
fault(10, sv.removeProcessGroup, "web")

# system.*
methods = server.system.listMethods()
for name in ["getAPIVersion", "getSupervisorVersion", "getIdentification",
             "getState", "getPID", "readLog", "clearLog", "shutdown", "restart",
             "getAllProcessInfo", "getProcessInfo", "startProcess",
             "startProcessGroup", "startAllProcesses", "stopProcess",
             "stopProcessGroup", "stopAllProcesses", "signalProcess",
             "signalProcessGroup", "signalAllProcesses", "sendProcessStdin",
             "readProcessStdoutLog", "readProcessStderrLog",
             "tailProcessStdoutLog", "tailProcessStderrLog", "clearProcessLogs",
             "clearAllProcessLogs", "reloadConfig", "addProcessGroup",
             "removeProcessGroup", "getAllConfigInfo"]:
    assert "supervisor." + name in methods, name
for name in ["listMethods", "methodHelp", "methodSignature", "multicall"]:
    assert "system." + name in methods, name
assert "WAIT" in server.system.methodHelp("supervisor.startProcess")
assert server.system.methodSignature("supervisor.startProcess") == \
    [["boolean", "string", "boolean"]]
fault(1, sv.frobnicate)
fault(2, sv.getProcessInfo)
results = server.system.multicall([
    {"methodName": "supervisor.getAPIVersion", "params": []},
    {"methodName": "supervisor.getProcessInfo", "params": ["nope"]},
])
assert results[0] == ["3.0"], results
assert results[1]["faultCode"] == 10, results
multi = x.MultiCall(server)
multi.supervisor.getIdentification()
multi.supervisor.getProcessInfo("web")
ident, info = tuple(multi())
assert ident == "supervisor" and info["name"] == "web"

# Everything at once, then the daemon goes.
results = sv.stopAllProcesses()
assert {(r["name"], r["status"]) for r in results} == \
    {("web", 80), ("echo", 80), ("0", 80), ("1", 80)}, results
assert all(i["state"] in (0, 100, 200) for i in sv.getAllProcessInfo())
results = sv.startAllProcesses(False)
assert len(results) == 7, results
assert sv.shutdown() is True
print("OK")
