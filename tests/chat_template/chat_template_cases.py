"""Inputs for make_chat_template_fixtures.py: conversations for the real templates, public template
styles written from memory, and synthetic templates that exercise each Jinja construct."""

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the weather in a city — «quoted» ünïcode",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}
TIME_TOOL = {"type": "function", "function": {"name": "get_time", "description": "Current time",
                                              "parameters": {"type": "object", "properties": {}}}}

SYS = {"role": "system", "content": "You are a helpful assistant."}
U1 = {"role": "user", "content": "Hello! How are you?"}
A1 = {"role": "assistant", "content": "I'm fine, thanks. And you?"}
U2 = {"role": "user", "content": "What is 2+2?"}

TOOL_CALL_DICT = {"role": "assistant", "content": "", "tool_calls": [
    {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]}
TOOL_CALL_STR = {"role": "assistant", "content": "Let me check.", "tool_calls": [
    {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"東京\"}"}},
    {"type": "function", "function": {"name": "get_time", "arguments": "{}"}}]}
TOOL_CALL_NONE_CONTENT = {"role": "assistant", "content": None, "tool_calls": [
    {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
    {"type": "function", "function": {"name": "get_time", "arguments": "{}"}}]}
TOOL_R1 = {"role": "tool", "content": "{\"temperature\": 21.5}"}
TOOL_R2 = {"role": "tool", "content": "12:00"}

NO_AGP = [{}, {"add_generation_prompt": True}]
THINKING = [{}, {"add_generation_prompt": True}, {"add_generation_prompt": True, "enable_thinking": False},
            {"add_generation_prompt": True, "enable_thinking": True}]

REAL_CONVERSATIONS = {
    "user_only": ([U1], THINKING),
    "system_user": ([SYS, U1], THINKING),
    "multi_turn": ([SYS, U1, A1, U2], THINKING),
    "multi_turn_no_system": ([U1, A1, U2, {"role": "assistant", "content": "4"}], NO_AGP),
    "two_systems": ([SYS, {"role": "system", "content": "Answer briefly."}, U1], NO_AGP),
    "reasoning_content_last": ([U1, {"role": "assistant", "content": "Fine.", "reasoning_content": "The user greets me."}], NO_AGP),
    "reasoning_content_history": ([U1, {"role": "assistant", "content": "Fine.", "reasoning_content": "Greeting."}, U2], THINKING),
    "thinking_field": ([U1, {"role": "assistant", "content": "Fine.", "thinking": "Via the thinking key."}], NO_AGP),
    "think_in_content": ([U1, {"role": "assistant", "content": "<think>\nLet me think.\n</think>\n\nHello there!"}], NO_AGP),
    "think_in_content_history": ([U1, {"role": "assistant", "content": "<think>plan</think>Hi!"}, U2], NO_AGP),
    "unicode": ([{"role": "system", "content": "Réponds en français 🇫🇷"},
                 {"role": "user", "content": "日本語で答えて 😀 — naïve café\ttab"},
                 {"role": "assistant", "content": "はい！ Ω≈ç√∫"}], NO_AGP),
    "empty_content": ([{"role": "user", "content": ""}, {"role": "assistant", "content": ""}], NO_AGP),
    "tools_no_system": ([{"role": "user", "content": "Weather in Paris?"}],
                        [{"tools": [WEATHER_TOOL, TIME_TOOL], "add_generation_prompt": True}]),
    "tools_with_system": ([SYS, {"role": "user", "content": "Weather in Paris?"}],
                          [{"tools": [WEATHER_TOOL]}, {"tools": [WEATHER_TOOL], "add_generation_prompt": True}]),
    "tool_call_dict_args": ([U1, TOOL_CALL_DICT, TOOL_R1], [{"tools": [WEATHER_TOOL], "add_generation_prompt": True}]),
    "tool_call_string_args": ([SYS, U1, TOOL_CALL_STR, TOOL_R1, TOOL_R2, {"role": "assistant", "content": "It is 21.5 °C."}],
                              [{"tools": [WEATHER_TOOL, TIME_TOOL]}, {}]),
    "tool_call_none_content": ([U1, TOOL_CALL_NONE_CONTENT, TOOL_R1, TOOL_R2], NO_AGP),
    "tool_response_then_user": ([U1, TOOL_CALL_STR, TOOL_R1, {"role": "user", "content": "<tool_response>x</tool_response>"}],
                                NO_AGP),
    "tool_responses_at_end": ([U1, {"role": "assistant", "content": "ok"}, TOOL_R1, TOOL_R2], NO_AGP),
}

STYLE_CONVERSATIONS = {
    "single": [{"role": "user", "content": "Hi there"}],
    "system_multi": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"},
                     {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye  "}],
    "alternating": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                    {"role": "user", "content": "ç 😀"}],
}

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LLAMA3 = ("{% set loop_messages = messages %}{% for message in loop_messages %}"
          "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
          "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
MISTRAL = ("{{ bos_token }}{% for message in messages %}"
           "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
           "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
           "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
           "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
           "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}")
GEMMA = ("{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
         "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
         "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
         "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
         "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
         "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}")
PHI3 = ("{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}"
        "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
        "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}")
ZEPHYR = """{% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>\n'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %}"""

STYLE_CASES = {
    "chatml": (CHATML, {"eos_token": "<|im_end|>"}),
    "llama3": (LLAMA3, {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}),
    "mistral": (MISTRAL, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}),
    "gemma": (GEMMA, {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}),
    "phi3": (PHI3, {"bos_token": "<s>", "eos_token": "<|endoftext|>"}),
    "zephyr": (ZEPHYR, {"eos_token": "</s>"}),
}

NESTED = {"b": [1, 2.5, None, True, False, "é\"\\\n\t\u0001"], "a": {"z": {}, "y": [], "x": "日本"}, "n": -3}
MSGS = [{"role": "system", "content": "sys"}, {"role": "user", "content": "  Hello World  "},
        {"role": "assistant", "content": "answer"}, {"role": "user", "content": "last"}]

# (name, template, context)
SYNTHETIC_CASES = [
    # --- whitespace control: trim_blocks, lstrip_blocks, -/+ markers, comments, raw
    ("ws_trim_blocks", "{% if true %}\nyes\n{% endif %}\nafter\n", {}),
    ("ws_lstrip_blocks", "a\n    {% if true %}\n    x\n    {% endif %}\nb", {}),
    ("ws_lstrip_not_for_vars", "a\n    {{ 'v' }}\n  b", {}),
    ("ws_minus_both", "a   \n  {%- if true -%}  \n  x  \n  {%- endif -%}\n\n  b", {}),
    ("ws_var_minus", "a \n {{- 'x' -}} \n b", {}),
    ("ws_plus_disables_lstrip", "a\n    {%+ if true %}x{% endif %}", {}),
    ("ws_plus_disables_trim", "{% if true +%}\nx{% endif %}", {}),
    ("ws_comment", "a\n  {# note #}\nb {#- trimmed -#}   c\n{# last #}", {}),
    ("ws_raw", "{% raw %}\n{{ not evaluated }} {% if %}\n{% endraw %}\nz", {}),
    ("ws_raw_minus", "x  {%- raw -%}  {{ y }}  {%- endraw -%}  z", {}),
    ("ws_tabs_and_crlf", "a\r\n\t{% if true %}\r\nb\r\n\t{% endif %}\r\nc\r\n", {}),
    ("ws_trailing_newline_dropped", "line\n", {}),
    ("ws_two_trailing_newlines", "line\n\n", {}),
    ("ws_inline_tags", "x {% if true %} y {% endif %} z\n  {% for i in [1,2] %}{{ i }} {% endfor %}\n", {}),
    ("ws_lstrip_after_var", "{{ 'a' }}  {% if true %}b{% endif %}", {}),
    ("ws_only_template", "   \n\t", {}),
    # --- expressions and printing
    ("print_values", "{{ none }}|{{ true }}|{{ false }}|{{ 1 }}|{{ -2 }}|{{ 1.0 }}|{{ 2.5e-7 }}|{{ 1e16 }}|{{ 123456789012345.6 }}"
     "|{{ 0.1 + 0.2 }}|{{ 1/3 }}|{{ 10/2 }}|{{ [1, 'a', none, true, 2.0] }}|{{ {'k': 'v', 'n': [1]} }}|{{ (1,) }}|{{ (1, 'b') }}|{{ () }}"
     "|{{ \"it's\" }}|{{ ['it\\'s', \"q\\\"\", 'tab\\there', 'nl\\n', 'é😀', '\\x01'] }}|{{ undefined_var }}|{{ x }}", {"x": NESTED}),
    ("arith", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} "
     "{{ 1 + 2 * 3 - 4 / 2 }} {{ (1 + 2) * 3 }} {{ -3 + 1 }} {{ 'ab' * 3 }} {{ [1] * 2 }} {{ [1] + [2, 3] }} {{ true + 1 }}", {}),
    ("concat_tilde", "{{ 'a' ~ 1 ~ none ~ true ~ [1] ~ undefined_thing ~ 2.50 }}", {}),
    ("compare", "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ [1,2] == [1,2] }} {{ 'abc' < 'abd' }} "
     "{{ 2 >= 2 }} {{ 1 <= 0 }} {{ none == none }} {{ 'a' in 'cat' }} {{ 3 not in [1, 2] }} {{ 'k' in {'k': 1} }} {{ true == 1 }}", {}),
    ("logic", "{{ true and 'x' }} {{ 0 or 'y' }} {{ not none }} {{ '' or [] or 0 }} {{ none and 1 }} {{ not 1 == 2 }} "
     "{{ 'a' if false }}|{{ 'a' if 1 else 'b' }} {{ 'p' if none else 'q' if 0 else 'r' }}", {}),
    ("subscript_slice", "{{ s[0] }}{{ s[-1] }} {{ s[1:3] }} {{ s[::-1] }} {{ s[::2] }} {{ l[1:] }} {{ l[:-1] }} {{ l[-2:] }} "
     "{{ l[::-1] }} {{ l[5:] }} {{ l[10] }}| {{ d['k'] }} {{ d.k }} {{ d.missing }}| {{ l.0 }} {{ s[-10:2] }} {{ l[3:0:-1] }}",
     {"s": "héllo😀", "l": [1, 2, 3, 4], "d": {"k": "v"}}),
    ("literals", "{{ [1, [2, {'a': (3, 4)}], 'x',] }} {{ {'a': 1, 'b': 2,} }} {{ 'con' 'cat' }} {{ 1_000 }} {{ 'tab\\tq\\u00e9' }}", {}),
    ("attribute_vs_method", "{{ d.items is defined }} {{ d['items'] }} {{ d.get('items') }} {{ d.keys()|list }} {{ d.values()|list }}",
     {"d": {"items": "ITEM", "x": 1}}),
    # --- statements
    ("if_elif_else", "{% for n in [0, 1, 2, 3] %}{% if n == 0 %}zero{% elif n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %},{% endfor %}", {}),
    ("for_loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
     "{{ loop.first }}{{ loop.last }}{{ loop.length }}[{{ loop.previtem }}|{{ loop.nextitem }}]{{ loop.cycle('o', 'e') }} {% endfor %}", {}),
    ("for_unpack_items", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for (a, b) in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %}",
     {"d": {"z": 1, "a": 2, "m": [3]}}),
    ("for_filter_else", "{% for x in xs if x is odd %}{{ x }}/{{ loop.length }} {% else %}none{% endfor %}|"
     "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in xs if x > 100 %}{% else %}nothing{% endfor %}", {"xs": [1, 2, 3, 5]}),
    ("for_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x > 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("for_over_dict_and_string", "{% for k in d %}{{ k }}{% endfor %}|{% for c in 'héy' %}[{{ c }}]{% endfor %}|{% for x in undefined_list %}x{% endfor %}",
     {"d": {"b": 1, "a": 2}}),
    ("for_nested_loop", "{% for a in [1, 2] %}{% set outer = loop %}{% for b in 'xy' %}{{ outer.index }}{{ loop.index }}{{ b }} {% endfor %}{% endfor %}", {}),
    ("scoping_loop", "{% set x = 0 %}{% for i in [1, 2] %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}", {}),
    ("scoping_if", "{% if true %}{% set y = 5 %}{% endif %}{{ y }}", {}),
    ("namespace", "{% set ns = namespace(count=0, found=false, items=[]) %}{% for m in msgs %}{% if m.role == 'user' %}"
     "{% set ns.count = ns.count + 1 %}{% set ns.found = true %}{% set ns.items = ns.items + [m.content] %}{% endif %}{% endfor %}"
     "{{ ns.count }} {{ ns.found }} {{ ns.items }} {{ ns.missing is defined }}", {"msgs": MSGS}),
    ("namespace_from_dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}", {}),
    ("set_tuple_and_block", "{% set a, b = 1, 'two' %}{{ a }}{{ b }}{% set t = 1, 2 %}{{ t }}"
     "{% set block %}\n  inner {{ a }}\n{% endset %}[{{ block }}]{% set up | upper %}shout{% endset %}{{ up }}", {}),
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', '?') }} "
     "{{ greet(punct='.', name='Cy') }}{% macro args() %}{{ varargs }}{{ kwargs }}{% endmacro %} {{ args(1, 2, k=3) }}", {}),
    ("macro_sees_globals", "{% set g = 'global' %}{% macro m() %}{{ g }}-{{ top }}{% endmacro %}{{ m() }}", {"top": "ctx"}),
    ("filter_block", "{% filter upper %}hello {{ name }}{% endfilter %}", {"name": "you"}),
    ("with_block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a is defined }}", {}),
    ("generation_block", "{% for m in msgs %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% endif %}{% endfor %}",
     {"msgs": MSGS}),
    # --- filters
    ("filters_strings", "{{ '  pad  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'MiXed'|upper }}{{ 'MiXed'|lower }}|{{ 'hello big-world (x)'|title }}|"
     "{{ 'hELLO wORLD'|capitalize }}|{{ 'a-b-c'|replace('-', '+') }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 'abc'|reverse }}|"
     "{{ 'one two  three'|wordcount }}|{{ '<a href=\"x\">&</a>'|e }}|{{ 'x'|center(7) }}|{{ '%s=%d'|format('k', 3) }}|{{ 'safe'|safe }}", {}),
    ("filters_numbers", "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '2.5'|float }} {{ 'no'|float }} "
     "{{ -3|abs }} {{ -2.5|abs }} {{ 2.675|round(2) }} {{ 2.5|round }} {{ 3.14159|round(1, 'floor') }} {{ 3.1|round(0, 'ceil') }} "
     "{{ [1, 2, 3.5]|sum }} {{ [3, 1, 2]|min }} {{ [3, 1, 2]|max }} {{ ['b', 'A', 'c']|max }} {{ 7|string }} {{ true|int }}", {}),
    ("filters_sequences", "{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} "
     "{{ [3, 1, 2]|sort(reverse=true) }} {{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'abc'|first }} {{ [1, 2, 2, 'a', 'A']|unique|list }} "
     "{{ [1, 2, 3]|join(', ') }} {{ [1, 2]|join }} {{ 'abc'|list }} {{ d|list }} {{ [1, 2, 3]|length }} {{ 'héllo'|length }} "
     "{{ d|count }} {{ d|items|list }} {{ d|dictsort }} {{ d|dictsort(by='value', reverse=true) }} {{ [1, 2, 3, 4, 5]|batch(2)|list }}",
     {"d": {"b": 2, "a": 3, "C": 1}}),
    ("filters_attr_selection", "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} "
     "{{ msgs|rejectattr('role', 'eq', 'user')|map(attribute='role')|join(',') }} {{ msgs|map(attribute='missing', default='-')|list }} "
     "{{ msgs|selectattr('content')|list|length }} {{ [1, 2, 3, 4]|select('even')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} "
     "{{ ['a', 'b']|map('upper')|list }} {{ msgs|sort(attribute='content')|map(attribute='content')|first }} {{ msgs|join('|', attribute='role') }}",
     {"msgs": MSGS + [{"role": "tool", "content": ""}]}),
    ("filters_default", "{{ missing|default('dflt') }} {{ missing|d('d') }} {{ ''|default('e') }} {{ ''|default('e', true) }} "
     "{{ none|default('n') }} {{ none|default('n', boolean=true) }} {{ missing|default }}|", {}),
    ("filter_indent", "{{ text|indent }}|{{ text|indent(2, true) }}|{{ text|indent('> ', first=true, blank=true) }}|{{ 'one'|indent(3) }}",
     {"text": "line1\nline2\n\nline4\n"}),
    ("tojson", "{{ x|tojson }}\n{{ x|tojson(indent=2) }}\n{{ x|tojson(indent=4, sort_keys=true) }}\n{{ x|tojson(separators=(',', ':')) }}\n"
     "{{ x|tojson(ensure_ascii=true) }}\n{{ 'str'|tojson }} {{ 1.5|tojson }} {{ none|tojson }} {{ (1, 2)|tojson }} {{ 'é😀'|tojson(ensure_ascii=true) }}",
     {"x": NESTED}),
    ("tojson_tools", "{% for t in tools %}{{ t|tojson }}\n{{ t.function.parameters|tojson(indent=2) }}\n{% endfor %}", {"tools": [WEATHER_TOOL, TIME_TOOL]}),
    # --- tests
    ("tests", "{{ x is defined }}{{ y is undefined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}{{ 1.5 is number }}{{ true is number }}"
     "|{{ 1 is integer }}{{ true is integer }}{{ 1.0 is float }}{{ {} is mapping }}{{ [] is mapping }}{{ [] is iterable }}{{ 'a' is iterable }}"
     "{{ 1 is iterable }}{{ 'a' is sequence }}{{ {} is sequence }}|{{ true is boolean }}{{ 1 is boolean }}{{ true is true }}{{ 1 is true }}"
     "{{ false is false }}{{ range is callable }}{{ 'a' is callable }}|{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}"
     "|{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ 1 is ne 2 }}{{ 2 is gt 1 }}{{ 2 is lt 1 }}{{ 2 is ge 2 }}{{ 2 is le 1 }}{{ 'a' is in 'abc' }}"
     "{{ none is sameas none }}{{ x is sameas x }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ x is not none }}{{ y is not defined }}",
     {"x": [1]}),
    ("test_precedence", "{{ not x is defined }} {{ x is defined and x is not none }} {{ 3 is odd or false }} {{ -1|abs is odd }}", {"x": 1}),
    # --- methods
    ("str_methods", "{{ s.startswith('Hel') }}{{ s.endswith(('x', 'ld')) }}{{ s.startswith('l', 2) }}|{{ p.strip() }}|{{ p.lstrip() }}|{{ p.rstrip() }}|"
     "{{ 'xxaxx'.strip('x') }}|{{ '\\n\\nx\\n'.lstrip('\\n') }}|{{ s.split() }}{{ s.split('o') }}{{ 'a,b,c'.split(',', 1) }}{{ 'a,b,c'.rsplit(',', 1) }}"
     "{{ '  a  b  '.split(none, 1) }}{{ '  a  b  '.rsplit(none, 1) }}{{ ' a b '.split(' ') }}|{{ s.upper() }}{{ s.lower() }}{{ \"they're bill's\".title() }}{{ 'aBc'.capitalize() }}{{ 'aBc'.swapcase() }}|"
     "{{ s.replace('l', 'L') }}{{ s.replace('l', 'L', 1) }}|{{ s.find('o') }}{{ s.rfind('o') }}{{ s.find('z') }}{{ s.count('l') }}|"
     "{{ '-'.join(['a', 'b']) }}|{{ '{} and {}'.format(1, 'two') }}{{ '{name}!'.format(name='N') }}{{ '{0}{0}'.format('r') }}|"
     "{{ 'a\\nb\\r\\nc'.splitlines() }}{{ '12'.isdigit() }}{{ 'ab'.isalpha() }}{{ ' '.isspace() }}{{ 'Ab'.isupper() }}{{ 'ab'.islower() }}|"
     "{{ 'pre_x'.removeprefix('pre_') }}{{ 'x.py'.removesuffix('.py') }}{{ 'a=b=c'.partition('=') }}{{ '7'.zfill(3) }}{{ 'é'.center(5, '*') }}",
     {"s": "Hello World", "p": "  padded\t\n"}),
    ("dict_list_methods", "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }} {{ d.items()|list }} {{ d.keys()|list }} {{ d.values()|list }} "
     "{{ l.index(3) }} {{ l.count(2) }} {{ dict(a=1, b=d) }} {{ dict([('k', 'v')]) }} {{ dict(d, c=3) }}", {"d": {"a": 1, "b": [2]}, "l": [1, 2, 3, 2]}),
    ("qwen_like_think_split", "{% set c = m.split('</think>')[-1].lstrip('\\n') %}{% set r = m.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}"
     "[{{ r }}][{{ c }}]", {"m": "<think>\nreason here\n</think>\n\nanswer"}),
    ("globals_range", "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }}", {}),
    ("undefined_behaviour", "[{{ u }}][{{ u|length }}][{{ u is defined }}][{{ u|default('d') }}][{{ u == u }}][{{ u ~ 'x' }}][{% for x in u %}{% endfor %}]"
     "[{{ d.missing }}][{{ d.missing is defined }}][{{ l[9] is defined }}][{{ not u }}][{{ u|string }}][{{ u|trim }}]", {"d": {}, "l": []}),
    ("messages_style_loop", "{%- for message in messages %}\n    {%- if message['role'] == 'system' %}\n        {{- '<<SYS>>\\n' + message['content'] + '\\n<</SYS>>\\n\\n' }}\n"
     "    {%- elif message.role == 'user' %}\n        {{- '[INST] ' + message.content | trim + ' [/INST]' }}\n    {%- else %}\n"
     "        {{- ' ' + message['content'] | trim + ' </s>' }}\n    {%- endif %}\n{%- endfor %}\n", {"messages": MSGS}),
    # --- errors transformers raises (the C++ side must raise too)
    ("error_raise_exception", "{% if true %}{{ raise_exception('Custom failure: ' ~ x) }}{% endif %}", {"x": "détail"}),
    ("error_undefined_attribute", "{{ missing.attr }}", {}),
    ("error_undefined_attribute_of_dict_missing", "{{ d.a.b }}", {"d": {}}),
    ("error_str_plus_int", "{{ 'a' + 1 }}", {}),
    ("error_undefined_plus", "{{ 'a' + missing }}", {}),
    ("error_sandbox_append", "{% set l = [1] %}{{ l.append(2) }}", {}),
    ("error_sandbox_dict_update", "{{ d.update({'a': 1}) }}", {"d": {}}),
    ("error_namespace_underscore", "{% set ns = namespace() %}{% set ns._x = 1 %}", {}),
    ("error_compare_types", "{{ 1 < 'a' }}", {}),
    ("error_unary_minus_binds_before_filter", "{{ -x|length }}", {"x": [1, 2]}),
    ("error_tojson_undefined", "{{ missing|tojson }}", {}),
]

SYNTHETIC_CASES += [
    ("floats_printing", "{{ 1e-4 }} {{ 1e-5 }} {{ 123e300 }} {{ -0.0 }} {{ 1.5e16 }} {{ 100.0 }} {{ 1e15 }} {{ 3 / 1.5 }} {{ 2 ** 62 }} "
     "{{ 0.5 }} {{ 1/7 }} {{ [1e20, 1e-7, 0.1]|tojson }} {{ x }} {{ 2.0 * 3 }} {{ 7 / 7 }}", {"x": [0.25, 1e100, -1.5]}),
    ("precedence_mix", "{{ x|length > 0 }} {{ -(x|length) }} {{ not 'a' in 'abc' }} {{ 1 + 2 ~ 3 }} {{ 2 * 3 ~ 4 }} {{ 'a' ~ 1 + 2 }} "
     "{{ x[0] if x else 'none' }} {{ 'yes' if x is defined and x|length == 2 else 'no' }} {{ (x|first) + 10 }} {{ x|first + 10 }}",
     {"x": [1, 2]}),
    ("macro_calls_macro", "{% macro inner(v) %}<{{ v }}>{% endmacro %}{% macro outer(a, b=a ~ '!') %}{{ inner(a) }}{{ inner(b) }}{% endmacro %}"
     "{{ outer('x') }} {{ outer('y', 'z') }} {{ outer(b='q', a='p') }}", {}),
    ("block_set_ws", "{%- set tmp -%}\n  body {{ 1 }}  \n{%- endset -%}\n[{{ tmp }}]", {}),
    ("content_parts", "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}"
     "{% for part in m.content|selectattr('type', 'equalto', 'text') %}{{ part.text }}{% if not loop.last %}\n{% endif %}{% endfor %}"
     "{% endif %}|{% endfor %}", {"messages": [{"role": "user", "content": "plain"}, {"role": "user", "content": [
         {"type": "image"}, {"type": "text", "text": "first"}, {"type": "text", "text": "second"}]}]}),
    ("llama31_style_tools", "{%- if builtin_tools is defined %}{{- 'Tools: ' + builtin_tools | reject('equalto', 'code_interpreter') | join(', ') }}{%- endif %}"
     "{{- '\n' + (m.content | default('', true)) }}{{- '\n\n' if not last }}{{ strftime_now('%%') }}",
     {"builtin_tools": ["brave_search", "code_interpreter", "wolfram_alpha"], "m": {"content": None}, "last": False}),
    ("string_edge_cases", "{{ '\u3000x\u3000'|trim }}|{{ 'ÀÉÎ'|lower }}|{{ 'straße'|upper }}|{{ 'ǅ'|length }}|{{ 'a\\b' }}|{{ \"dq'sq\" }}|"
     "{{ ['dq\\'sq\"'] }}|{{ {'k\"': \"v'\"} }}|{{ 'x' * 0 }}|{{ ''.join([]) }}|{{ 'abc'[1:] }}{{ 'abc'[:-1] }}{{ 'abc'[-1] }}", {}),
    ("dict_printing_nested", "{{ d }}|{{ d.items()|list }}|{{ d|items|list|length }}|{{ [d] }}|{{ d.values()|list|first }}",
     {"d": {"name": "x", "args": {"q": "it's", "n": None, "l": [True, 1.5]}}}),
    ("loop_cycle_and_index_tests", "{% for x in range(6) %}{{ loop.cycle('a', 'b', 'c') }}{{ 'E' if loop.index0 is divisibleby 2 else 'O' }}"
     "{% endfor %}", {}),
    ("none_content_checks", "{% for m in messages %}{{ m.content is none }}{{ m.content is defined }}{{ m['tool_calls'] is defined }}"
     "{{ m.get('content', 'dflt') }};{% endfor %}", {"messages": [{"role": "a", "content": None}, {"role": "b"}]}),
    ("generation_with_ws", "{%- for m in msgs -%}\n  {%- if m.role == 'assistant' -%}\n    {% generation %}\n{{ m.content }}\n    {% endgeneration %}\n"
     "  {%- endif -%}\n{%- endfor -%}", {"msgs": MSGS}),
    ("map_and_join_numbers", "{{ [1, 2.5, none]|join('-') }} {{ [[1, 2], [3]]|map('length')|list }} {{ [1, 2]|map('string')|join }} "
     "{{ ['a', 'b']|map('replace', 'a', 'z')|list }} {{ users|map(attribute='info.age')|list }} {{ users|sum(attribute='info.age') }} "
     "{{ users|max(attribute='info.age') }}", {"users": [{"info": {"age": 3}}, {"info": {"age": 40}}]}),
    ("tojson_special", "{{ 'line\nbreak \"q\" \\ / \u00e9 \u2028 \u0007'|tojson }} {{ {'a': [], 'b': {}}|tojson(indent=0) }} "
     "{{ [1, [2, [3]]]|tojson(indent='\t') }} {{ {'b': 1, 'a': {'d': 1, 'c': 2}}|tojson(sort_keys=true) }} {{ x|tojson(indent=-1) }}", {"x": {"k": [1]}}),
]

# Tool-calling styles, condensed from memory of Llama 3.1 and Qwen2.5: (template, special tokens);
# each runs on every TOOL_CONVERSATIONS entry with `tools` passed.
LLAMA31 = """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{%- if tools_in_user_message and not tools is none %}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- 'with its proper arguments that best answers the given prompt.\\n\\n' }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

QWEN25 = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

TOOL_STYLE_CASES = {
    "llama31": (LLAMA31, {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}),
    "qwen25": (QWEN25, {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}),
}
TOOL_CONVERSATIONS = {
    "call_and_result": [SYS, {"role": "user", "content": "Weather in Paris? "}, TOOL_CALL_DICT,
                        {"role": "tool", "content": {"temperature": 21.5, "sky": "clear"}},
                        {"role": "assistant", "content": "21.5 °C and clear."}],
    "no_system": [{"role": "user", "content": "What time is it?"}],
    "two_calls": [{"role": "user", "content": "Both please"}, TOOL_CALL_STR, TOOL_R1, TOOL_R2],
}

SYNTHETIC_CASES += [
    ("braces_in_strings", "{{ '}}' }}{{ '{{' ~ '%}' }}{% if '%}' %}ok{% endif %}{{ {'a': {'b': '}}'}} }}", {}),
    ("filtered_loop_first", "{% for m in messages if m.role != 'system' %}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ m.role }} {% endfor %}",
     {"messages": MSGS}),
    ("macro_whitespace", "{%- macro row(k, v) -%}\n  {{ k }}: {{ v }}\n{%- endmacro -%}\n{% for k, v in d|dictsort %}\n{{ row(k, v) }}\n{% endfor %}",
     {"d": {"b": 2, "a": 1}}),
    ("float_floordiv_mod", "{{ 10 // 3.0 }} {{ -10 // 3.0 }} {{ 10 % 3.5 }} {{ -1 % 0.3 }} {{ 7.0 // -2 }}", {}),
    ("truthiness", "{% for v in [0, 1, '', 'x', [], [0], {}, {'a': 0}, none, 0.0, true, false] %}{{ 'T' if v else 'F' }}{% endfor %}", {}),
]
