#!/usr/bin/env python3
"""`shadowpeft serve` end to end, spoken to with the real `openai` client and plain HTTP.

A tiny random Llama with the real Qwen3 tokenizer and chat template, and two random ShadowPEFT
adapters made by shadow-peft, are served by the CLI; the checks:
- /v1/models lists the base and both adapters, /health answers;
- greedy completions equal `shadowpeft generate`'s output, and streamed chat equals `generate --chat`;
- the two adapters (and the base) answer differently; an adapter over an explicit shadow model
  (--shadow-model NAME=DIR) answers as `generate --shadow-model` does;
- 8 concurrent clients all complete, each with the text it gets alone (decoded together in one
  continuous batch), also while requests for the other adapters and the base run beside them;
- malformed JSON, an unknown model, a missing field, n > 1, an over-long prompt get 4xx JSON errors;
  a wrong API key gets 401;
- a full queue answers 429, and a client that disconnects mid-stream frees the server.

Usage: serve_test.py CLI WORK_DIR TOKENIZER_DIR
"""
import concurrent.futures
import http.client
import json
import os
import shutil
import subprocess
import sys
import time

import torch
import transformers
from openai import OpenAI
from shadow_peft import ShadowConfig, ShadowForCausalLM, ShadowPeftModel

transformers.utils.logging.set_verbosity_error()
FAILURES = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


def make_models(work, tokenizer_dir):
    model_dir = os.path.join(work, "tiny")  # the Qwen3 vocabulary, with its special tokens
    config = transformers.LlamaConfig(vocab_size=151669, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                      tie_word_embeddings=True, eos_token_id=151645, pad_token_id=151643)
    torch.manual_seed(0)
    base = transformers.LlamaForCausalLM(config)
    with torch.no_grad():
        for p in base.parameters():
            p.normal_(0.0, 0.5) if p.ndim > 1 else p.fill_(1.0)
    base.save_pretrained(model_dir)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tokenizer_dir, name), model_dir)
    adapters = {}
    for name, seed in (("alpha", 1), ("beta", 2)):
        wrapped = ShadowForCausalLM(ShadowPeftModel(transformers.LlamaForCausalLM.from_pretrained(model_dir),
                                                    ShadowConfig(num_shadow_layers=1, injection_hidden_size=8, alpha=1.0)))
        torch.manual_seed(seed)
        with torch.no_grad():
            for pname, p in wrapped.named_parameters():
                if p.requires_grad and "embed" not in pname:
                    p.normal_(0.0, 0.5)
        adapters[name] = os.path.join(work, name)
        wrapped.save_pretrained(adapters[name])
    # An adapter over an explicit shadow: a one-layer Llama of its own, served with --shadow-model.
    shadow_dir = os.path.join(work, "small")
    torch.manual_seed(3)
    small = transformers.LlamaForCausalLM(transformers.LlamaConfig(**{**config.to_dict(), "num_hidden_layers": 1, "intermediate_size": 48}))
    small.save_pretrained(shadow_dir)
    wrapped = ShadowForCausalLM(ShadowPeftModel(transformers.LlamaForCausalLM.from_pretrained(model_dir),
                                                ShadowConfig(injection_hidden_size=8, alpha=1.0),
                                                shadow_model=transformers.LlamaForCausalLM.from_pretrained(shadow_dir)))
    with torch.no_grad():
        for pname, p in wrapped.named_parameters():
            if p.requires_grad and "embed" not in pname:
                p.normal_(0.0, 0.5)
    adapters["gamma"] = os.path.join(work, "gamma")
    wrapped.save_pretrained(adapters["gamma"])
    return model_dir, adapters, {"gamma": shadow_dir}


def start_server(cli, model_dir, adapters, shadow_models, *extra):
    args = [cli, "serve", "--model", model_dir, "--port", "0", *extra]
    for name, path in adapters.items():
        args += ["--adapter", f"{name}={path}"]
    for name, path in shadow_models.items():
        args += ["--shadow-model", f"{name}={path}"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
    return proc, port


def cli_generate(cli, model_dir, adapter, prompt, max_new, chat, shadow_model=None):
    args = [cli, "generate", "--model", model_dir, "--prompt", prompt, "--max-new-tokens", str(max_new), "--json"]
    if adapter:
        args += ["--adapter", adapter]
    if shadow_model:
        args += ["--shadow-model", shadow_model]
    if chat:
        args += ["--chat"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return json.loads([l for l in out.splitlines() if l.startswith("{")][-1])["results"][0]["text"]


def raw_post(port, path, body, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
    r = conn.getresponse()
    data = r.read().decode()
    conn.close()
    return r.status, data


def main(cli, work, tokenizer_dir):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    model_dir, adapters, shadow_models = make_models(work, tokenizer_dir)
    base_name = os.path.basename(model_dir)
    proc, port = start_server(cli, model_dir, adapters, shadow_models)
    busy, busy_port = start_server(cli, model_dir, adapters, shadow_models, "--max-batch", "1", "--max-queue", "0", "--api-key", "secret")
    try:
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
        check([m.id for m in client.models.list().data] == [base_name, "alpha", "beta", "gamma"], "/v1/models lists base and adapters")
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("GET", "/health")
        check(conn.getresponse().status == 200, "/health")

        prompt, question = "Write 12 in words.", "Write 12 in words."
        answers = {}
        for name in (base_name, "alpha", "beta"):
            adapter = adapters.get(name)
            got = client.completions.create(model=name, prompt=prompt, max_tokens=8, temperature=0)
            want = cli_generate(cli, model_dir, adapter, prompt, 8, chat=False)
            check(got.choices[0].text == want, f"{name}: greedy completion equals `generate` ({want!r})")
            check(got.usage.completion_tokens == 8 and got.choices[0].finish_reason == "length", f"{name}: usage and finish_reason")
            pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
                model=name, messages=[{"role": "user", "content": question}], max_tokens=8, temperature=0, stream=True)]
            want_chat = cli_generate(cli, model_dir, adapter, question, 8, chat=True)
            check("".join(pieces) == want_chat and len(pieces) > 2, f"{name}: streamed chat equals `generate --chat` ({want_chat!r})")
            answers[name] = got.choices[0].text
        check(len(set(answers.values())) == 3, "the base and the two adapters answer differently")
        got = client.completions.create(model="gamma", prompt=prompt, max_tokens=8, temperature=0).choices[0].text
        want = cli_generate(cli, model_dir, adapters["gamma"], prompt, 8, chat=False, shadow_model=shadow_models["gamma"])
        check(got == want and got not in answers.values(),
              f"an adapter over an explicit shadow (--shadow-model NAME=DIR) equals `generate --shadow-model` ({want!r})")

        chunks = list(client.chat.completions.create(model="alpha", messages=[{"role": "user", "content": question}],
                                                     max_tokens=5, temperature=0, stream=True,
                                                     stream_options={"include_usage": True}))
        check(chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5 and not chunks[-1].choices,
              "stream_options.include_usage ends the stream with the token counts")

        stopped = client.completions.create(model="alpha", prompt=prompt, max_tokens=8, temperature=0, stop=[answers["alpha"][2:5]])
        check(stopped.choices[0].text == answers["alpha"][:2] and stopped.choices[0].finish_reason == "stop",
              "a stop string ends the text before it")

        prompts = [f"Write {n} in words." for n in range(8)]
        alone = {p: client.completions.create(model="beta", prompt=p, max_tokens=6, temperature=0).choices[0].text for p in prompts}
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            together = list(pool.map(lambda p: client.completions.create(model="beta", prompt=p, max_tokens=6,
                                                                           temperature=0).choices[0].text, prompts))
        check(together == [alone[p] for p in prompts], "8 concurrent clients all complete with their own answers")
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("GET", "/health")
        health = json.loads(conn.getresponse().read())
        check(health["models"]["beta"]["largest_batch"] >= 4, f"concurrent requests were decoded together ({health['models']['beta']})")
        # Requests of different lengths for all three models at once: rows join and leave the
        # batches at different steps; streamed and plain alike get their lone answers.
        def one(job):
            name, p, n, streamed = job
            if streamed:
                return "".join(c.choices[0].text for c in client.completions.create(model=name, prompt=p, max_tokens=n, temperature=0, stream=True))
            return client.completions.create(model=name, prompt=p, max_tokens=n, temperature=0).choices[0].text
        jobs = [(name, prompts[i % 8] * (1 + i % 3), 3 + (5 * i) % 11, i % 2 == 0)
                for i, name in enumerate([base_name, "alpha", "beta"] * 4)]
        lone = [one(job) for job in jobs]
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
            mixed = list(pool.map(one, jobs))
        check(mixed == lone, f"{len(jobs)} concurrent requests for three models, streamed and not, get their lone answers")

        for body, status, what in (("{bad", 400, "malformed JSON"),
                                   (json.dumps({"model": "nope", "prompt": "x"}), 404, "unknown model"),
                                   (json.dumps({"model": "alpha"}), 400, "missing prompt"),
                                   (json.dumps({"model": "alpha", "prompt": "x", "n": 2}), 400, "n > 1"),
                                   (json.dumps({"model": "alpha", "prompt": "word " * 100}), 400, "prompt longer than the context"),
                                   (json.dumps({"model": "alpha", "prompt": "x", "temperature": 7}), 400, "temperature out of range")):
            got_status, data = raw_post(port, "/v1/completions", body)
            ok = got_status == status and "message" in json.loads(data).get("error", {})
            check(ok, f"{what}: {status} with a JSON error ({got_status} {data[:120]})")
        status, _ = raw_post(busy_port, "/v1/completions", json.dumps({"model": "alpha", "prompt": "x"}),
                             {"Authorization": "Bearer wrong"})
        check(status == 401, "a wrong API key gets 401")

        # One request streams on the busy server (queue 0): another one meanwhile gets 429; the
        # streaming client then disconnects, and the server answers again.
        auth = {"Authorization": "Bearer secret"}
        long_request = json.dumps({"model": "alpha", "prompt": "x", "max_tokens": 60, "temperature": 0, "stream": True})
        conn = http.client.HTTPConnection("127.0.0.1", busy_port, timeout=60)
        conn.request("POST", "/v1/completions", body=long_request, headers={"Content-Type": "application/json", **auth})
        stream = conn.getresponse()
        first = stream.fp.readline()
        status, data = raw_post(busy_port, "/v1/completions", json.dumps({"model": "alpha", "prompt": "x", "max_tokens": 2}), auth)
        check(first.startswith(b"data: ") or first.strip() != b"", "the long request streams")
        check(status == 429, f"a full queue answers 429 ({status})")
        conn.sock.close()
        conn.close()
        deadline, status = time.time() + 20, 0
        while time.time() < deadline and status != 200:
            status, _ = raw_post(busy_port, "/v1/completions", json.dumps({"model": "alpha", "prompt": "x", "max_tokens": 2}), auth)
            time.sleep(0.1)
        check(status == 200, "a client that disconnects mid-stream frees the server")
        check(proc.poll() is None and busy.poll() is None, "both servers are still running")
    finally:
        for p in (proc, busy):
            p.terminate()
            p.wait(timeout=10)
    print(f"{len(FAILURES)} failures")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
