"""Reading histories in other tools' formats, detecting them, refusing malformed ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checkers import edn
from checkers.edn import write_edn
from harness.corpus import corpus_dir
from harness.formats import detect_format, load_history
from harness.history import HistoryError, Op

CORPUS = corpus_dir()

ETCD_LOG = (
    "INFO  jepsen.util - 4\t:invoke\t:read\tnil\n"
    "INFO  jepsen.util - 4\t:ok\t:read\tnil\n"
    "INFO  jepsen.util - 1\t:invoke\t:write\t1\n"
    "INFO  jepsen.util - 0   :invoke :cas    [1 4]\n"
    "INFO  jepsen.util - 1\t:ok\t:write\t1\n"
    "INFO  jepsen.util - 0\t:fail\t:cas\t[1 4]\n"
    "INFO  jepsen.util - 2\t:invoke\t:write\t3\n"
    "INFO  jepsen.util - 2\t:info\t:write\t:timed-out\n"
    "INFO  jepsen.util - 3\t:invoke\t:read\tnil\n"
    "INFO  jepsen.util - 3\t:fail\t:read\t:timed-out\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"index":0,"time":0,"type":"invoke","process":0,"f":"read","value":null}\n', "jsonl"),
        ("{:type :invoke, :f :read, :value nil, :process 0}\n", "edn"),
        ("[{:type :invoke, :f :read, :value nil, :process 0}]\n", "edn"),
        ("; a comment\n\n({:type :invoke :f :read :process 0})\n", "edn"),
        (ETCD_LOG, "porcupine-etcd"),
        ('{:process 0, :type :invoke, :f :get, :key "1", :value nil}\n', "porcupine-kv"),
    ],
)
def test_auto_detects_each_format(tmp_path: Path, text: str, expected: str) -> None:
    assert detect_format(write(tmp_path, "h", text)) == expected


def test_a_file_in_no_known_format_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "mystery.txt", "\n\nhello world\n")
    with pytest.raises(HistoryError) as err:
        load_history(path)
    assert err.value.source == str(path) and err.value.line == 3
    assert "jsonl" in err.value.problem and "edn" in err.value.problem


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="empty"):
        load_history(write(tmp_path, "empty", "\n"))


def test_an_unknown_format_name_is_refused_with_the_allowed_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="porcupine-kv"):
        load_history(write(tmp_path, "h", ETCD_LOG), format="xml")


# -- Porcupine's etcd logs -----------------------------------------------------------------------


def test_etcd_logs_become_register_ops_with_porcupines_semantics(tmp_path: Path) -> None:
    ops = load_history(write(tmp_path, "etcd.log", ETCD_LOG), format="porcupine-etcd")
    assert [(o.type, o.f, o.value, o.process) for o in ops[:5]] == [
        ("invoke", "read", None, 4),
        ("ok", "read", None, 4),
        ("invoke", "write", 1, 1),
        ("invoke", "cas", [1, 4], 0),
        ("ok", "write", 1, 1),
    ]
    failed_cas = ops[5]
    assert (failed_cas.type, failed_cas.value, failed_cas.extra) == (
        "ok",
        [1, 4],
        {"result": False},
    )
    timed_out_write = ops[7]
    assert (timed_out_write.type, timed_out_write.value, timed_out_write.error) == (
        "info",
        3,
        "timed-out",
    )
    timed_out_read = ops[9]
    assert timed_out_read.type == "info"
    assert [o.index for o in ops] == list(range(len(ops)))


def test_other_log_lines_of_a_jepsen_log_are_skipped(tmp_path: Path) -> None:
    text = "INFO  jepsen.core - Running test\n" + ETCD_LOG
    assert len(load_history(write(tmp_path, "etcd.log", text))) == 10


def test_a_malformed_etcd_line_names_the_file_line_and_shape(tmp_path: Path) -> None:
    path = write(tmp_path, "etcd.log", ETCD_LOG + "INFO  jepsen.util - 2\t:invoke\n")
    with pytest.raises(HistoryError) as err:
        load_history(path, format="porcupine-etcd")
    assert (err.value.source, err.value.line) == (str(path), 11)
    assert "<process>" in err.value.problem


def test_an_etcd_line_with_a_bad_value_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, "etcd.log", "INFO  jepsen.util - 2\t:invoke\t:cas\t[1 4\n")
    with pytest.raises(HistoryError, match=r"etcd.log:1: value '\[1 4' is not EDN"):
        load_history(path)


def test_an_etcd_line_with_an_unknown_type_says_which_are_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "etcd.log", "INFO  jepsen.util - 2\t:done\t:read\t1\n")
    with pytest.raises(HistoryError, match=":invoke, :ok, :fail, :info"):
        load_history(path, format="porcupine-etcd")


# -- Porcupine's kv logs and EDN -----------------------------------------------------------------


def test_kv_logs_get_the_independent_key_convention(tmp_path: Path) -> None:
    text = (
        '{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}\n'
        '{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}\n'
        '{:process 1, :type :invoke, :f :get, :key "3", :value nil}\n'
        '{:process 1, :type :ok, :f :get, :key "3", :value ""}\n'
    )
    ops = load_history(write(tmp_path, "c01.txt", text))
    assert [(o.type, o.f, o.value) for o in ops] == [
        ("invoke", "append", ["0", "x 0 0 y"]),
        ("ok", "append", ["0", "x 0 0 y"]),
        ("invoke", "get", ["3", None]),
        ("ok", "get", ["3", ""]),
    ]


def test_a_kv_log_line_without_a_key_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "kv.txt",
        '{:process 0, :type :invoke, :f :get, :key "1"}\n'
        "{:process 0, :type :ok, :f :get, :value 1}\n",
    )
    with pytest.raises(HistoryError) as err:
        load_history(path, format="porcupine-kv")
    assert err.value.line == 2 and ":key" in err.value.problem


def test_edn_op_maps_become_ops_with_plain_strings(tmp_path: Path) -> None:
    text = (
        "{:index 0, :time 5, :type :invoke, :f :write, :value 3, :process 0}\n"
        "{:index 1, :time 9, :type :info, :f :write, :value 3, :process 0, "
        ":error :timed-out}\n"
        '{:type :info, :f :start-partition, :value [:isolated "n1"], :process :nemesis}\n'
        "{:type :ok, :f :txn, :value [[:append :x 1] [:r :y [1 2]]], :process 1, "
        ':node "n2", :op-index 7}\n'
    )
    ops = load_history(write(tmp_path, "history.edn", text))
    assert (ops[0].index, ops[0].time, ops[0].type, ops[0].f, ops[0].value) == (
        0,
        5,
        "invoke",
        "write",
        3,
    )
    assert ops[1].error == "timed-out"
    assert ops[2].process == "nemesis" and ops[2].value == ["isolated", "n1"]
    assert ops[2].index == 2  # its position, as it has none
    assert ops[3].value == [["append", "x", 1], ["r", "y", [1, 2]]]
    assert ops[3].node == "n2" and ops[3].extra == {"op-index": 7}
    assert type(ops[3].f) is str and type(ops[3].value[0][0]) is str
    json.dumps([o.to_dict() for o in ops])  # plain JSON values


def test_a_vector_of_op_maps_keeps_each_maps_line(tmp_path: Path) -> None:
    text = (
        "[{:type :invoke, :f :read, :process 0}\n"
        " {:type :ok, :f :read, :value 1, :process 0}\n"
        " {:type :bogus, :f :read, :process 0}]\n"
    )
    with pytest.raises(HistoryError) as err:
        load_history(write(tmp_path, "v.edn", text))
    assert err.value.line == 3 and ":bogus" in err.value.problem


def test_elle_histories_without_f_or_process_read_as_elle_reads_them(tmp_path: Path) -> None:
    text = "{:index 0, :type :ok, :value [[:append :x 1] [:r :y nil]]}\n"
    (op,) = load_history(write(tmp_path, "elle.edn", text))
    assert (op.f, op.process) == ("txn", 0)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read,\n", 2, "unclosed"),
        ("{:type :invoke, :f :read, :process 0}\n{:f :read, :process 0}\n", 2, ":type"),
        ('{:type :invoke, :f :read, :process "p"}\n', 1, ":process"),
        ("{:type :invoke, :f :read, :process 0, :index -1}\n", 1, ":index"),
        ("{:type :invoke, :f :read, :process 0}\n[1 2]\n", 2, "op map"),
        ('{:type :invoke, :f :read, :process 0, :value "abc}\n', 1, "unterminated string"),
        ("{:type :invoke :f}\n", 1, "even number"),
    ],
)
def test_malformed_edn_names_the_file_line_and_what_was_expected(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = write(tmp_path, "bad.edn", text)
    with pytest.raises(HistoryError) as err:
        load_history(path, format="edn")
    assert err.value.source == str(path)
    assert err.value.line == line
    assert problem in err.value.problem
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_malformed_jsonl_names_the_file_and_line(tmp_path: Path) -> None:
    good = '{"index":0,"time":0,"type":"invoke","process":0,"f":"read","value":null}\n'
    path = write(tmp_path, "history.jsonl", good + "{not json}\n" + good)
    with pytest.raises(HistoryError) as err:
        load_history(path)
    assert err.value.line == 2


# -- writing EDN -------------------------------------------------------------------------------


def test_written_edn_reads_back_as_the_same_history(tmp_path: Path) -> None:
    ops = [
        Op("invoke", "write", 3, 0, time=10, index=0, node="n1"),
        Op("ok", "write", 3, 0, time=20, index=1, node="n1"),
        Op("info", "start-partition", ["n1", "n2"], "nemesis", time=25, index=2),
        Op("invoke", "cas", ["x", [1, 2]], 1, time=30, index=3),
        Op("info", "cas", ["x", [1, 2]], 1, time=40, index=4, error='timed out: "really"'),
        Op("ok", "cas", [1, 4], 2, time=41, index=5, extra={"result": False}),
        Op("ok", "txn", [["append", "x", 1], ["r", "y", [1, 2]]], 3, time=50, index=6),
        Op("ok", "read", {"a": 1.5, "b": None, "c": "line\nbreak"}, 4, time=60, index=7),
    ]
    path = tmp_path / "out.edn"
    write_edn(ops, path)
    text = path.read_text()
    assert ":type :invoke" in text and ":process :nemesis" in text
    assert '[:append "x" 1]' in text  # micro-op functions are keywords, as Elle needs
    back = load_history(path, format="auto")
    assert [o.to_dict() for o in back] == [o.to_dict() for o in ops]


# -- the EDN reader itself -----------------------------------------------------------------------


def test_the_edn_reader_handles_the_forms_histories_use() -> None:
    assert edn.loads('"a\\"b\\n\\u0041"') == 'a"b\nA'
    assert edn.loads("[1 -2 3.5 1e3 7N nil true false]") == [
        1,
        -2,
        3.5,
        1000.0,
        7,
        None,
        True,
        False,
    ]
    assert edn.loads("#{1 2}") == [1, 2]
    assert edn.loads("(1 #_ 2 3) ; comment") == [1, 3]
    assert edn.loads('#inst "2020-01-01"') == "2020-01-01"
    assert edn.loads("{[1 2] :a}") == {(1, 2): "a"}
    assert edn.loads("\\a") == "a" and edn.loads("\\newline") == "\n"
    kw = edn.loads(":timed-out")
    assert kw == "timed-out" and isinstance(kw, edn.Keyword)
    assert edn.loads("org.Foo$Bar") == "org.Foo$Bar"


def test_the_edn_writer_writes_what_the_reader_reads() -> None:
    value = {edn.Keyword("a"): [1, 2.5, None, True, 's "q"'], "b": {edn.Keyword("c"): []}}
    assert edn.loads(edn.dumps(value)) == value


# -- the corpus ----------------------------------------------------------------------------------


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")
def test_every_porcupine_corpus_file_is_detected_and_loads() -> None:
    # the histories only: a drawing a `check` once wrote beside one is not a history
    files = sorted(p for p in (CORPUS / "porcupine").glob("*/*") if p.suffix in (".log", ".txt"))
    assert len(files) == 108
    for path in files:
        fmt = detect_format(path)
        assert fmt == ("porcupine-etcd" if path.parent.name == "etcd" else "porcupine-kv")
        ops = load_history(path)
        assert ops and all(o.type in ("invoke", "ok", "fail", "info") for o in ops)
