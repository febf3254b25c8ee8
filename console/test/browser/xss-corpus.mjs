// Hostile strings a visitor's browser can send (traits, event properties, comments) or a teammate
// can type (survey texts, notes), for the console's XSS test. A page passes when none of them runs,
// none becomes an element, and they show verbatim as text. Every payload that could run sets
// window.__pwned, so "nothing ran" is one check.

/** The payloads, each with a short name for the test output. */
export const CORPUS = /** @type {const} */ ({
  scriptTag: `<script>window.__pwned='script'</script>`,
  imgOnerror: `<img src=x onerror="window.__pwned='img'">`,
  svgOnload: `<svg onload="window.__pwned='svg'"><circle r=5></circle></svg>`,
  svgScript: `<svg><script>window.__pwned='svg-script'</script></svg>`,
  iframeJs: `<iframe src="javascript:window.top.__pwned='iframe'"></iframe>`,
  javascriptUrl: `javascript:window.__pwned='url'`,
  dataUrl: `data:text/html,<script>window.__pwned='data'</script>`,
  attributeBreak: `"'><img src=x onerror="window.__pwned='attr'">`,
  attributeBreakSingle: `' onmouseover='window.__pwned="single"' x='`,
  detailsToggle: `<details open ontoggle="window.__pwned='details'">`,
  bodyOnload: `<body onload="window.__pwned='body'">`,
  mathml: `<math><mtext><table><mglyph><style><img src=x onerror="window.__pwned='mxss'">`,
  templateCurly: `{{7*7}} {{constructor.constructor('window.__pwned=1')()}}`,
  templateDollar: '${7*7} ${window.__pwned=1}',
  templateHash: `#{7*7} <%= 7*7 %> [[7*7]]`,
  styleClose: `</style><script>window.__pwned='style'</script>`,
  titleClose: `</title></textarea></noscript><img src=x onerror="window.__pwned='close'">`,
  cssExpression: `color: expression(alert(1)); background:url("javascript:window.__pwned='css'")`,
  entities: `&lt;b&gt;not bold&lt;/b&gt; &amp;amp; &#60;script&#62; &#x3C;img&#x3E;`,
  bidi: `\u202Egnp.exe\u202C \u2066isolated\u2069 \u200Fright-to-left mark`,
  zeroWidth: `zero\u200Bwidth\u200Cjoiner\u200D\uFEFFbom`,
  controls: `ctrl\u0001\u0008\u001B[31mred\u001B[0m\u007F\u0085end`,
  emoji: `👩🏽‍💻 🏳️‍🌈 🇨🇳 🇹🇼 💩 ⚠️`,
  cjk: `报表导出太慢了，客户很不满意。報表匯出太慢了。測試「引號」『雙引號』`,
  prototype: `__proto__ constructor toString hasOwnProperty`,
  long: `${'长'.repeat(2000)}${'<b>x</b>'.repeat(1000)}`,
});

/** The account name: markup, quotes, template syntax, bidi, CJK and emoji in one line. */
export const NAME = `<img src=x onerror="window.__pwned='name'">Evil "Corp" & 'Sons' {{7*7}} \${7*7} 测试 \u202Ecba\u202C 🚀`;
/** The comment on the account's rating. */
export const COMMENT = `<script>window.__pwned='comment'</script><b onmouseover="window.__pwned='b'">bold?</b> "'><img src=x onerror="window.__pwned='comment-img'"> 导出太慢 {{7*7}}`;
/** A note a teammate types on an alert. */
export const NOTE = `<img src=x onerror="window.__pwned='note'"> note "'>< {{7*7}} 备注`;

/**
 * What must not be in a page that showed the corpus: elements and attributes only a payload makes.
 * Returns what was found, as sentences (an empty list when the page is clean).
 */
export function findInjected() {
  /** @type {string[]} */
  const found = [];
  const w = /** @type {any} */ (window);
  if (w.__pwned !== undefined) found.push(`window.__pwned = ${JSON.stringify(w.__pwned)}`);
  for (const el of Array.from(document.querySelectorAll('*'))) {
    for (const attr of Array.from(el.attributes)) {
      if (/^on/i.test(attr.name)) found.push(`<${el.tagName.toLowerCase()} ${attr.name}>`);
      const favicon = el.matches('link[rel="icon"]') && attr.value === 'data:,'; // the shell's "no favicon"
      if (/^\s*(javascript|data):/i.test(attr.value) && /^(href|src|action|formaction|xlink:href)$/i.test(attr.name) && !favicon) found.push(`<${el.tagName.toLowerCase()} ${attr.name}="${attr.value.slice(0, 40)}">`);
    }
  }
  const own = (/** @type {HTMLScriptElement} */ s) => s.src ? new URL(s.src).pathname.startsWith('/console/') || new URL(s.src).pathname.startsWith('/sdk/') : false;
  for (const s of Array.from(document.querySelectorAll('script'))) if (!own(/** @type {HTMLScriptElement} */ (s))) found.push(`a <script> not from the console: ${s.outerHTML.slice(0, 80)}`);
  for (const sel of ['img[src="x"]', 'svg[onload]', 'svg circle', 'iframe[src^="javascript"]', 'details[ontoggle]', 'math', 'mglyph', 'b[onmouseover]', 'body body']) {
    const n = document.querySelectorAll(sel).length;
    if (n) found.push(`${n} × ${sel}`);
  }
  for (const style of Array.from(document.querySelectorAll('style'))) if (!/** @type {HTMLStyleElement} */ (style).nonce) found.push(`a <style> without the console's nonce: ${style.textContent?.slice(0, 60)}`);
  return found;
}
