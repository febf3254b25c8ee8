// Why a rating change is not tested, in the reader's language. The API gives each untested
// change an English `note`, a stable `note_code` (no_ratings, few_ratings, too_few) and the
// groups it is about (`note_groups`), with the answer's `min_n`; in English the text written here
// is the API's note word for word. A code the console does not know shows the API's note.
import { t, addMessages } from '../../i18n.js';

addMessages({
  en: {
    'feedback.note.no_ratings': 'no ratings in {groups}: nothing to compare',
    'feedback.note.few_ratings': 'fewer than {min} ratings in {groups}: shown, but never called significant',
    'feedback.note.too_few': 'too few ratings to compare',
    'feedback.noteAnd': ' and ', 'feedback.noteParen': '({note})',
    'feedback.noteGroup.current': 'the current period', 'feedback.noteGroup.previous': 'the previous period',
    'feedback.noteGroup.segment_current': 'the segment\'s current period', 'feedback.noteGroup.segment_previous': 'the segment\'s previous period',
    'feedback.noteGroup.rest_current': 'the rest\'s current period', 'feedback.noteGroup.rest_previous': 'the rest\'s previous period',
  },
  'zh-CN': {
    'feedback.note.no_ratings': '{groups}没有评分，无法比较',
    'feedback.note.few_ratings': '{groups}的评分少于 {min} 条：仅供参考，不会判定为显著',
    'feedback.note.too_few': '评分太少，无法比较',
    'feedback.noteAnd': '和', 'feedback.noteParen': '（{note}）',
    'feedback.noteGroup.current': '本期', 'feedback.noteGroup.previous': '上一期',
    'feedback.noteGroup.segment_current': '该分组的本期', 'feedback.noteGroup.segment_previous': '该分组的上一期',
    'feedback.noteGroup.rest_current': '其余部分的本期', 'feedback.noteGroup.rest_previous': '其余部分的上一期',
  },
  'zh-TW': {
    'feedback.note.no_ratings': '{groups}沒有評分，無法比較',
    'feedback.note.few_ratings': '{groups}的評分少於 {min} 則：僅供參考，不會判定為顯著',
    'feedback.note.too_few': '評分太少，無法比較',
    'feedback.noteAnd': '和', 'feedback.noteParen': '（{note}）',
    'feedback.noteGroup.current': '本期', 'feedback.noteGroup.previous': '上一期',
    'feedback.noteGroup.segment_current': '該分組的本期', 'feedback.noteGroup.segment_previous': '該分組的上一期',
    'feedback.noteGroup.rest_current': '其餘部分的本期', 'feedback.noteGroup.rest_previous': '其餘部分的上一期',
  },
});

const KNOWN = new Set(['no_ratings', 'few_ratings', 'too_few']);

/**
 * The note of a change row in the current locale; the API's `note` for anything unknown; null
 * without a note.
 * @param {{ note?: string | null, note_code?: string | null, note_groups?: string[] }} row
 * @param {number | undefined} minN  the answer's `min_n`
 * @returns {string | null}
 */
export function noteText(row, minN) {
  const code = row.note_code;
  if (!code || !KNOWN.has(code) || (code === 'few_ratings' && typeof minN !== 'number')) return row.note || null;
  const names = (row.note_groups || []).map((g) => {
    const key = `feedback.noteGroup.${g}`;
    const text = t(key);
    return text === key ? null : text;
  });
  if (code !== 'too_few' && (!names.length || names.includes(null))) return row.note || null;
  return t(`feedback.note.${code}`, { groups: names.join(t('feedback.noteAnd')), min: /** @type {number} */ (minN) });
}
