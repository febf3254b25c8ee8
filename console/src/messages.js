// The shell's own texts (pages register theirs next to their code).
import { addMessages } from './i18n.js';

addMessages({
  en: {
    'app.skip': 'Skip to content', 'app.project': 'Project', 'app.language': 'Language', 'app.signOut': 'Sign out', 'app.nav': 'Console',
    'app.noProject': 'No project yet', 'app.noProjectHelp': 'You are not a member of any project. Ask an owner to add you.', 'app.notFound': 'Page not found',
    'nav.portfolio': 'Portfolio', 'nav.accounts': 'Accounts', 'nav.feedback': 'Feedback', 'nav.alerts': 'Alerts', 'nav.surveys': 'Surveys', 'nav.settings': 'Settings',
    'band.green': 'Green', 'band.yellow': 'Yellow', 'band.red': 'Red',
    'role.owner': 'Owner', 'role.admin': 'Admin', 'role.analyst': 'Analyst', 'role.viewer': 'Viewer',
    'perm.denied': 'Your role ({role}) cannot do this: it needs the {permission} permission. Ask an admin.',
    'state.loading': 'Loading…', 'state.error': 'Something went wrong:', 'state.retry': 'Try again', 'state.empty': 'Nothing here yet.',
    'chart.data': 'Show the numbers', 'chart.lower': '(low)', 'chart.upper': '(high)',
    'signin.title': 'Sign in', 'signin.email': 'Email', 'signin.password': 'Password', 'signin.submit': 'Sign in', 'signin.busy': 'Signing in…',
    'signin.help': 'Your admin creates your account (cxloop users create, or Settings → Members). Forgot your password? Ask an admin for a reset link.',
    'reset.title': 'Choose a new password', 'reset.password': 'New password', 'reset.submit': 'Set password', 'reset.done': 'Your password is set. Sign in with it.', 'reset.missing': 'This link has no reset token. Ask an admin for a new link.', 'reset.signIn': 'Go to sign-in',
  },
  'zh-CN': {
    'app.skip': '跳到主要内容', 'app.project': '项目', 'app.language': '语言', 'app.signOut': '退出登录', 'app.nav': '控制台',
    'app.noProject': '还没有项目', 'app.noProjectHelp': '您还不是任何项目的成员，请联系项目所有者添加您。', 'app.notFound': '页面不存在',
    'nav.portfolio': '客户总览', 'nav.accounts': '客户', 'nav.feedback': '反馈', 'nav.alerts': '预警', 'nav.surveys': '问卷', 'nav.settings': '设置',
    'band.green': '健康', 'band.yellow': '关注', 'band.red': '风险',
    'role.owner': '所有者', 'role.admin': '管理员', 'role.analyst': '分析员', 'role.viewer': '只读成员',
    'perm.denied': '您的角色（{role}）无法执行此操作：需要 {permission} 权限。请联系管理员。',
    'state.loading': '加载中…', 'state.error': '出错了：', 'state.retry': '重试', 'state.empty': '暂无数据。',
    'chart.data': '查看数据', 'chart.lower': '（下限）', 'chart.upper': '（上限）',
    'signin.title': '登录', 'signin.email': '邮箱', 'signin.password': '密码', 'signin.submit': '登录', 'signin.busy': '正在登录…',
    'signin.help': '账号由管理员创建（cxloop users create 或 设置 → 成员）。忘记密码？请管理员发送重置链接。',
    'reset.title': '设置新密码', 'reset.password': '新密码', 'reset.submit': '设置密码', 'reset.done': '密码已设置，请用新密码登录。', 'reset.missing': '此链接缺少重置令牌，请管理员重新发送链接。', 'reset.signIn': '去登录',
  },
  'zh-TW': {
    'app.skip': '跳到主要內容', 'app.project': '專案', 'app.language': '語言', 'app.signOut': '登出', 'app.nav': '主控台',
    'app.noProject': '還沒有專案', 'app.noProjectHelp': '您還不是任何專案的成員，請聯絡專案擁有者加入您。', 'app.notFound': '找不到頁面',
    'nav.portfolio': '客戶總覽', 'nav.accounts': '客戶', 'nav.feedback': '回饋', 'nav.alerts': '警示', 'nav.surveys': '問卷', 'nav.settings': '設定',
    'band.green': '健康', 'band.yellow': '關注', 'band.red': '風險',
    'role.owner': '擁有者', 'role.admin': '管理員', 'role.analyst': '分析師', 'role.viewer': '唯讀成員',
    'perm.denied': '您的角色（{role}）無法執行此操作：需要 {permission} 權限。請聯絡管理員。',
    'state.loading': '載入中…', 'state.error': '發生錯誤：', 'state.retry': '重試', 'state.empty': '尚無資料。',
    'chart.data': '檢視數據', 'chart.lower': '（下限）', 'chart.upper': '（上限）',
    'signin.title': '登入', 'signin.email': '電子郵件', 'signin.password': '密碼', 'signin.submit': '登入', 'signin.busy': '正在登入…',
    'signin.help': '帳號由管理員建立（cxloop users create 或 設定 → 成員）。忘記密碼？請管理員傳送重設連結。',
    'reset.title': '設定新密碼', 'reset.password': '新密碼', 'reset.submit': '設定密碼', 'reset.done': '密碼已設定，請用新密碼登入。', 'reset.missing': '此連結缺少重設權杖，請管理員重新傳送連結。', 'reset.signIn': '前往登入',
  },
});
