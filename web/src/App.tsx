// Routes: sign-in and password change stand alone; everything else needs a session and sits
// in the Layout. A session that must change its password is sent there first.

import { lazy } from 'react'
import { Navigate, Route, Routes, useLocation } from 'react-router'
import { signedOutOnPurpose, useAuth } from './auth'
import { Layout } from './Layout'
import { LiveProvider } from './live'
import { ChangePasswordPage } from './pages/ChangePassword'
import { LoginPage } from './pages/Login'
import { Spinner } from './components/ui'

// Pages load on first visit, so sign-in does not wait for the charts and the YAML parser.
const AccountsPage = lazy(() => import('./pages/Accounts').then((m) => ({ default: m.AccountsPage })))
const AgentDetailPage = lazy(() => import('./pages/AgentDetail').then((m) => ({ default: m.AgentDetailPage })))
const AgentsPage = lazy(() => import('./pages/Agents').then((m) => ({ default: m.AgentsPage })))
const AuditPage = lazy(() => import('./pages/Audit').then((m) => ({ default: m.AuditPage })))
const CollectionsPage = lazy(() => import('./pages/Collections').then((m) => ({ default: m.CollectionsPage })))
const TerminalSessionsPage = lazy(() => import('./pages/TerminalSessions').then((m) => ({ default: m.TerminalSessionsPage })))
const ConfigPage = lazy(() => import('./pages/Config').then((m) => ({ default: m.ConfigPage })))
const DashboardPage = lazy(() => import('./pages/Dashboard').then((m) => ({ default: m.DashboardPage })))
const ExecutionDetailPage = lazy(() => import('./pages/ExecutionDetail').then((m) => ({ default: m.ExecutionDetailPage })))
const ExecutionsPage = lazy(() => import('./pages/Executions').then((m) => ({ default: m.ExecutionsPage })))
const FreezePage = lazy(() => import('./pages/Freeze').then((m) => ({ default: m.FreezePage })))
const SettingsPage = lazy(() => import('./pages/Settings').then((m) => ({ default: m.SettingsPage })))
const GroupsPage = lazy(() => import('./pages/Groups').then((m) => ({ default: m.GroupsPage })))
const InventoryPage = lazy(() => import('./pages/Inventory').then((m) => ({ default: m.InventoryPage })))
const JobEditorPage = lazy(() => import('./pages/JobEditor').then((m) => ({ default: m.JobEditorPage })))
const JobsPage = lazy(() => import('./pages/Jobs').then((m) => ({ default: m.JobsPage })))
const MachinesPage = lazy(() => import('./pages/Machines').then((m) => ({ default: m.MachinesPage })))
const MyAccountPage = lazy(() => import('./pages/MyAccount').then((m) => ({ default: m.MyAccountPage })))
const SchedulesPage = lazy(() => import('./pages/Schedules').then((m) => ({ default: m.SchedulesPage })))
const ScheduleEditorPage = lazy(() => import('./pages/ScheduleEditor').then((m) => ({ default: m.ScheduleEditorPage })))
const CompliancePage = lazy(() => import('./pages/Compliance').then((m) => ({ default: m.CompliancePage })))
const NotificationsPage = lazy(() => import('./pages/Notifications').then((m) => ({ default: m.NotificationsPage })))
const RolloutPage = lazy(() => import('./pages/Rollout').then((m) => ({ default: m.RolloutPage })))
const ResultPage = lazy(() => import('./pages/Result').then((m) => ({ default: m.ResultPage })))

function RequireSession() {
  const { token, me, loading } = useAuth()
  const location = useLocation()
  if (!token) return <Navigate to="/login" replace state={signedOutOnPurpose() ? undefined : { from: location.pathname }} />
  if (loading || !me)
    return (
      <div className="center-page">
        <Spinner />
      </div>
    )
  if (me.must_change_pw) return <Navigate to="/change-password" replace />
  return (
    <LiveProvider enabled>
      <Layout />
    </LiveProvider>
  )
}

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route path="/change-password" element={<ChangePasswordPage />} />
      <Route element={<RequireSession />}>
        <Route index element={<DashboardPage />} />
        <Route path="agents" element={<AgentsPage />} />
        <Route path="agents/:id" element={<AgentDetailPage />} />
        <Route path="groups" element={<GroupsPage />} />
        <Route path="config" element={<ConfigPage />} />
        <Route path="jobs" element={<JobsPage />} />
        <Route path="jobs/new" element={<JobEditorPage />} />
        <Route path="jobs/:id" element={<JobEditorPage />} />
        <Route path="executions" element={<ExecutionsPage />} />
        <Route path="executions/:id" element={<ExecutionDetailPage />} />
        <Route path="results/:id" element={<ResultPage />} />
        <Route path="audit" element={<AuditPage />} />
        <Route path="terminal-sessions" element={<TerminalSessionsPage />} />
        <Route path="collections" element={<CollectionsPage />} />
        <Route path="accounts" element={<AccountsPage />} />
        <Route path="machines" element={<MachinesPage />} />
        <Route path="account" element={<MyAccountPage />} />
        <Route path="freeze" element={<FreezePage />} />
        <Route path="settings" element={<SettingsPage />} />
        <Route path="schedules" element={<SchedulesPage />} />
        <Route path="schedules/new" element={<ScheduleEditorPage />} />
        <Route path="schedules/:id" element={<ScheduleEditorPage />} />
        <Route path="inventory" element={<InventoryPage />} />
        <Route path="compliance" element={<CompliancePage />} />
        <Route path="notifications" element={<NotificationsPage />} />
        <Route path="rollout" element={<RolloutPage />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  )
}

function NotFound() {
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p>There is nothing at this address.</p>
    </div>
  )
}
