// The frame around every signed-in page: navigation (a drawer on phones), the live-updates
// indicator, the theme toggle and the account menu.

import { Suspense, useEffect, useRef, useState } from 'react'
import { Link, NavLink, Outlet, useLocation } from 'react-router'
import { useAuth } from './auth'
import { useLive } from './live'
import { Spinner } from './components/ui'
import { useTheme } from './theme'

const NAV: { to: string; label: string; end?: boolean; admin?: boolean; operator?: boolean }[] = [
  { to: '/', label: 'Dashboard', end: true },
  { to: '/agents', label: 'Agents' },
  { to: '/groups', label: 'Groups' },
  { to: '/config', label: 'Config' },
  { to: '/jobs', label: 'Jobs' },
  { to: '/executions', label: 'Activity' },
  { to: '/schedules', label: 'Schedules' },
  { to: '/inventory', label: 'Inventory' },
  { to: '/compliance', label: 'Compliance' },
  { to: '/notifications', label: 'Notifications' },
  { to: '/rollout', label: 'Rollout' },
  { to: '/freeze', label: 'Freeze' },
  { to: '/audit', label: 'Audit log' },
  { to: '/terminal-sessions', label: 'Terminal sessions', admin: true },
  { to: '/collections', label: 'Collections', operator: true },
  { to: '/machines', label: 'Machine access', operator: true },
  { to: '/accounts', label: 'Accounts', admin: true },
  { to: '/settings', label: 'Settings' },
]

function AccountMenu() {
  const { me, logout } = useAuth()
  const [open, setOpen] = useState(false)
  const ref = useRef<HTMLDivElement>(null)
  useEffect(() => {
    if (!open) return
    const onDoc = (e: MouseEvent) => {
      if (!ref.current?.contains(e.target as Node)) setOpen(false)
    }
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') setOpen(false)
    }
    // Keyboard users land on the first item.
    ref.current?.querySelector<HTMLElement>('[role="menuitem"]')?.focus()
    document.addEventListener('mousedown', onDoc)
    document.addEventListener('keydown', onKey)
    return () => {
      document.removeEventListener('mousedown', onDoc)
      document.removeEventListener('keydown', onKey)
    }
  }, [open])
  if (!me) return null
  return (
    <div className="menu" ref={ref}>
      <button type="button" className="btn ghost" aria-haspopup="true" aria-expanded={open} onClick={() => setOpen((o) => !o)} data-testid="account-menu">
        <span className="avatar" aria-hidden="true">
          {me.username.slice(0, 1).toUpperCase()}
        </span>
        <span className="menu-name">{me.username}</span>
      </button>
      {open && (
        <div className="menu-pop" role="menu">
          <div className="menu-who">
            Signed in as <strong data-testid="whoami">{me.username}</strong>
            <br />
            <span className="muted">role: {me.role}</span>
            {me.mfa_enabled && <span className="muted"> · MFA on</span>}
          </div>
          <Link role="menuitem" to="/account" onClick={() => setOpen(false)}>
            My account
          </Link>
          <button type="button" role="menuitem" onClick={() => void logout()}>
            Sign out
          </button>
        </div>
      )}
    </div>
  )
}

export function Layout() {
  const { can } = useAuth()
  const { theme, toggle } = useTheme()
  const live = useLive()
  const [drawer, setDrawer] = useState(false)
  const location = useLocation()
  useEffect(() => setDrawer(false), [location.pathname])
  return (
    <div className={`shell ${drawer ? 'drawer-open' : ''}`}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <button type="button" className="btn ghost nav-toggle" aria-label="Menu" aria-expanded={drawer} aria-controls="nav" onClick={() => setDrawer((d) => !d)}>
          ☰
        </button>
        <Link to="/" className="brand">
          <span className="logo" aria-hidden="true">
            ◆
          </span>{' '}
          kanade
        </Link>
        <span className="dt-spacer" />
        <span className={`live ${live.status}`} title={`live updates: ${live.status}`} data-testid="live-status">
          <span className="dot" aria-hidden="true" /> {live.status === 'open' ? 'live' : live.status === 'connecting' ? 'connecting' : 'offline'}
        </span>
        <button type="button" className="btn ghost" onClick={toggle} aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`} title="Toggle theme">
          {theme === 'dark' ? '☀' : '☾'}
        </button>
        <AccountMenu />
      </header>
      <nav id="nav" className="sidebar" aria-label="Main">
        {NAV.filter((n) => (!n.admin || can('admin')) && (!n.operator || can('operator'))).map((n) => (
          <NavLink key={n.to} to={n.to} end={n.end}>
            {n.label}
          </NavLink>
        ))}
      </nav>
      <div className="scrim" onClick={() => setDrawer(false)} aria-hidden="true" />
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<Spinner />}>
          <Outlet />
        </Suspense>
      </main>
    </div>
  )
}
