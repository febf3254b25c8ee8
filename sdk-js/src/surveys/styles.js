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
 *
 * Sizes are in `em` of the browser's default font size (the host's `font: initial` is `medium`),
 * so a person who raised it in their browser gets a larger widget; 14 px at the usual 16 px.
 * Control borders keep ≥ 3:1 against the panel (WCAG 1.4.11); below 330 px of panel width the NPS
 * scale wraps into two rows, so each score stays a ≥ 24 px target (2.5.8).
 */
export const CSS = `
:host{all:initial!important;display:block!important}
.panel,.backdrop{all:initial;box-sizing:border-box;display:block;
--_accent:var(--cxloop-accent,#4f46e5);--_accent-text:var(--cxloop-accent-text,#fff);
--_bg:var(--cxloop-bg,#fff);--_text:var(--cxloop-text,#1f2937);--_muted:var(--cxloop-muted,#6b7280);
--_border:var(--cxloop-border,#80868f);--_edge:var(--cxloop-panel-border,#e5e7eb);--_radius:var(--cxloop-radius,12px);--_offset:var(--cxloop-offset,20px);
--_z:var(--cxloop-z-index,2147483000)}
.panel{position:relative;padding:20px 20px 16px;background:var(--_bg);color:var(--_text);container-type:inline-size;
border:1px solid var(--_edge);overflow-wrap:break-word;border-radius:var(--_radius);
box-shadow:var(--cxloop-shadow,0 12px 32px rgba(17,24,39,.18));
font-family:var(--cxloop-font,system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"PingFang SC","PingFang TC","Hiragino Sans GB","Microsoft YaHei","Microsoft JhengHei",sans-serif);
font-size:var(--cxloop-font-size,.875em);font-weight:400;font-style:normal;line-height:1.45;letter-spacing:normal;
text-align:start;text-transform:none;text-indent:0;white-space:normal;word-spacing:normal;visibility:visible;cursor:auto}
.panel *,.panel *::before,.panel *::after{box-sizing:border-box}
.panel:focus{outline:none}
.popover{position:fixed;z-index:var(--_z);right:var(--_offset);bottom:var(--_offset);width:400px;
max-width:calc(100vw - 2 * var(--_offset));max-height:calc(100vh - 2 * var(--_offset));overflow:auto;animation:cxloop-in .2s ease-out}
.popover.top{top:var(--_offset);bottom:auto}
@media (max-height:500px){.popover{max-height:50vh}}
.modal{position:fixed;z-index:var(--_z);left:50%;top:50%;transform:translate(-50%,-50%);width:440px;
max-width:calc(100vw - 32px);max-height:calc(100vh - 32px);overflow:auto}
.backdrop{position:fixed;z-index:var(--_z);inset:0;background:var(--cxloop-backdrop,rgba(17,24,39,.5))}
.inline{width:100%;box-shadow:none}
@keyframes cxloop-in{from{opacity:0;transform:translateY(8px)}}
@media (prefers-reduced-motion:reduce){.popover{animation:none}}
@media (max-width:480px){.popover{left:0;right:0;bottom:0;width:auto;max-width:none;
border-radius:var(--_radius) var(--_radius) 0 0;padding-bottom:max(16px,env(safe-area-inset-bottom))}
.popover.top{top:0;border-radius:0 0 var(--_radius) var(--_radius)}}
p{margin:0}
.question,label{display:block;margin:0 calc(2.2em - 8px) 14px 0;font-weight:600;font-size:1.07em}
.scale{display:grid;grid-auto-flow:column;grid-auto-columns:1fr;gap:4px}
@container (max-width:330px){.n11{grid-auto-flow:row;grid-template-columns:repeat(6,1fr)}.n11 .radio:nth-child(7){grid-column-start:2}}
@container (max-width:230px){.n7,.n5{grid-auto-flow:row;grid-template-columns:repeat(4,1fr)}}
button,textarea{font:inherit;color:inherit;margin:0}
button{cursor:pointer}
.radio{min-width:0;min-height:40px;height:2.86em;padding:0;background:var(--_bg);border:1px solid var(--_border);
border-radius:calc(var(--_radius) / 2);font-variant-numeric:tabular-nums}
.pictures .radio{display:flex;flex-direction:column;align-items:center;justify-content:center;gap:2px;height:auto;min-height:3.43em;padding:6px 2px}
.pic{font-size:1.6em;line-height:1;font-family:"Apple Color Emoji","Segoe UI Emoji","Noto Color Emoji",sans-serif}
.name{font-size:.8em;line-height:1.2;text-align:center}
.radio:hover{border-color:var(--_accent)}
.radio[aria-checked=true]{background:var(--_accent);border-color:var(--_accent);color:var(--_accent-text)}
button:focus-visible,textarea:focus-visible{outline:2px solid var(--_accent);outline-offset:2px}
.ends{display:flex;justify-content:space-between;gap:8px;margin-top:6px;font-size:.86em;color:var(--_muted)}
.actions{display:flex;justify-content:flex-end;align-items:center;gap:12px;margin-top:12px}
.later{padding:4px;background:none;border:0;color:var(--_muted);font-size:.9em;text-decoration:underline}
.close{position:absolute;top:10px;right:10px;width:1.45em;height:1.45em;min-width:32px;min-height:32px;padding:0;background:none;border:0;
border-radius:50%;color:var(--_muted);font-size:1.57em;line-height:1}
.close:hover{background:rgba(127,127,127,.15)}
textarea{display:block;width:100%;min-height:5.4em;padding:8px 10px;resize:vertical;background:var(--_bg);
border:1px solid var(--_border);border-radius:calc(var(--_radius) / 2);line-height:1.45}
.submit{padding:8px 18px;background:var(--_accent);color:var(--_accent-text);border:0;
border-radius:calc(var(--_radius) / 2);font-weight:600}
.thanks{font-weight:600;margin-right:calc(2.2em - 8px)}
.sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;border:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
[hidden]{display:none!important}
@media (forced-colors:active){.radio[aria-checked=true]{forced-color-adjust:none;background:Highlight;border-color:Highlight;color:HighlightText}}
`;
