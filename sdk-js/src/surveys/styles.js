/**
 * The widget's stylesheet, applied inside its shadow root only. Vendors theme it with the
 * documented `--cxloop-*` custom properties (they inherit through the shadow boundary); the
 * private `--_*` properties hold the defaults.
 *
 * Isolation both ways: selectors of the host page do not reach into the shadow tree, and
 * `:host { all: initial !important }` stops the host page's rules on the host element (even
 * `!important` ones: for important declarations the shadow tree's own rules win) from being
 * inherited into it. The panel then sets every inherited property itself. Nothing here can
 * match an element of the host page.
 */
export const CSS = `
:host{all:initial!important;display:block!important}
.panel,.backdrop{all:initial;box-sizing:border-box;display:block;
--_accent:var(--cxloop-accent,#4f46e5);--_accent-text:var(--cxloop-accent-text,#fff);
--_bg:var(--cxloop-bg,#fff);--_text:var(--cxloop-text,#1f2937);--_muted:var(--cxloop-muted,#6b7280);
--_border:var(--cxloop-border,#d1d5db);--_radius:var(--cxloop-radius,12px);--_offset:var(--cxloop-offset,20px);
--_z:var(--cxloop-z-index,2147483000)}
.panel{position:relative;padding:20px 20px 16px;background:var(--_bg);color:var(--_text);
border:1px solid var(--_border);border-radius:var(--_radius);
box-shadow:var(--cxloop-shadow,0 12px 32px rgba(17,24,39,.18));
font-family:var(--cxloop-font,system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"PingFang SC","PingFang TC","Hiragino Sans GB","Microsoft YaHei","Microsoft JhengHei",sans-serif);
font-size:var(--cxloop-font-size,14px);font-weight:400;font-style:normal;line-height:1.45;letter-spacing:normal;
text-align:start;text-transform:none;text-indent:0;white-space:normal;word-spacing:normal;visibility:visible;cursor:auto}
.panel *,.panel *::before,.panel *::after{box-sizing:border-box}
.panel:focus{outline:none}
.popover{position:fixed;z-index:var(--_z);right:var(--_offset);bottom:var(--_offset);width:400px;
max-width:calc(100vw - 2 * var(--_offset));animation:cxloop-in .2s ease-out}
.modal{position:fixed;z-index:var(--_z);left:50%;top:50%;transform:translate(-50%,-50%);width:440px;
max-width:calc(100vw - 32px);max-height:calc(100vh - 32px);overflow:auto}
.backdrop{position:fixed;z-index:var(--_z);inset:0;background:var(--cxloop-backdrop,rgba(17,24,39,.5))}
.inline{width:100%;box-shadow:none}
@keyframes cxloop-in{from{opacity:0;transform:translateY(8px)}}
@media (prefers-reduced-motion:reduce){.popover{animation:none}}
@media (max-width:480px){.popover{left:0;right:0;bottom:0;width:auto;max-width:none;
border-radius:var(--_radius) var(--_radius) 0 0;padding-bottom:max(16px,env(safe-area-inset-bottom))}}
p{margin:0}
.question,label{display:block;margin:0 32px 14px 0;font-weight:600;font-size:1.07em}
.scale{display:flex;gap:4px}
button,textarea{font:inherit;color:inherit;margin:0}
button{cursor:pointer}
.radio{flex:1 1 0;min-width:0;height:40px;padding:0;background:var(--_bg);border:1px solid var(--_border);
border-radius:calc(var(--_radius) / 2);font-variant-numeric:tabular-nums}
.pictures .radio{height:48px;font-size:1.6em;line-height:1}
.radio:hover{border-color:var(--_accent)}
.radio[aria-checked=true]{background:var(--_accent);border-color:var(--_accent);color:var(--_accent-text)}
button:focus-visible,textarea:focus-visible{outline:2px solid var(--_accent);outline-offset:2px}
.ends{display:flex;justify-content:space-between;gap:8px;margin-top:6px;font-size:.86em;color:var(--_muted)}
.actions{display:flex;justify-content:flex-end;align-items:center;gap:12px;margin-top:12px}
.later{padding:4px;background:none;border:0;color:var(--_muted);font-size:.9em;text-decoration:underline}
.close{position:absolute;top:10px;right:10px;width:32px;height:32px;padding:0;background:none;border:0;
border-radius:50%;color:var(--_muted);font-size:22px;line-height:1}
.close:hover{background:rgba(127,127,127,.15)}
textarea{display:block;width:100%;min-height:76px;padding:8px 10px;resize:vertical;background:var(--_bg);
border:1px solid var(--_border);border-radius:calc(var(--_radius) / 2);line-height:1.45}
.submit{padding:8px 18px;background:var(--_accent);color:var(--_accent-text);border:0;
border-radius:calc(var(--_radius) / 2);font-weight:600}
.thanks{font-weight:600}
.sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;border:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
[hidden]{display:none!important}
`;
